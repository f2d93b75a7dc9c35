/* Entrypoint parameter kinds and the `selium.entrypoints` custom section, which records each
 * entrypoint's declared kinds so the host can check a module spec's params against them: wasm
 * types alone cannot tell (utf8, u32) from (u32, utf8), both being (i32, i32, i32). The numbers
 * are part of the guest ABI: never renumber a kind; add new ones at the end. Freestanding C.
 *
 * Section format (any toolchain may emit it; the SDK's SELIUM_ENTRYPOINT does): a custom section
 * named SELIUM_ENTRYPOINTS_SECTION whose content is a sequence of records, one per entrypoint,
 * in any order. Linkers concatenate the pieces of a custom section from several object files and
 * may pad between them with zero bytes, so a zero byte where a record would start is skipped.
 * A record, every field one byte unless said otherwise:
 *   version          SELIUM_ENTRYPOINTS_RECORD_VERSION (non-zero, so padding is never a record)
 *   name_len         1..255
 *   name             name_len bytes of UTF-8: the export's name
 *   param_count      0..255
 *   param_count times:
 *     kind           SELIUM_PARAM_KIND_*
 *     param_name_len 0..255
 *     param_name     param_name_len bytes of UTF-8 (for messages only)
 * Several sections of this name are read as one; an entrypoint appears at most once. The host
 * refuses a module whose section is malformed (a broken toolchain), and checks a spec's params
 * only for entrypoints the section names; a module without the section is checked by wasm types
 * alone. */
#ifndef SELIUM_ABI_ENTRYPOINTS_H_
#define SELIUM_ABI_ENTRYPOINTS_H_

#define SELIUM_ENTRYPOINTS_SECTION "selium.entrypoints"
#define SELIUM_ENTRYPOINTS_RECORD_VERSION 1

/* X(kind, id): every parameter kind, in id order, named as in module specs. */
#define SELIUM_PARAM_KINDS(X) \
  X(i8, 0)                    \
  X(u8, 1)                    \
  X(i16, 2)                   \
  X(u16, 3)                   \
  X(i32, 4)                   \
  X(u32, 5)                   \
  X(i64, 6)                   \
  X(u64, 7)                   \
  X(f32, 8)                   \
  X(f64, 9)                   \
  X(utf8, 10)                 \
  X(buffer, 11)               \
  X(hex, 12)                  \
  X(resource, 13)

enum {
#define SELIUM_PARAM_KIND_ENUM_(kind, id) SELIUM_PARAM_KIND_##kind = id,
  SELIUM_PARAM_KINDS(SELIUM_PARAM_KIND_ENUM_)
#undef SELIUM_PARAM_KIND_ENUM_
      SELIUM_PARAM_KIND_COUNT
};

#endif /* SELIUM_ABI_ENTRYPOINTS_H_ */
