/* guest_channel_bench's readers and writers in C on the raw channel hostcalls (selium/selium.h),
 * with a selium_poll of its own: no tasks and no allocation per frame, so what the benchmark
 * measures is the hostcalls and the channel. One role per process; the process waits on one
 * handle at a time, so every call passes waker token 1 and selium_poll just resumes the loop.
 * Needs ChannelReader and ChannelWriter (and ChannelLifecycle for sink).
 *
 * A frame of `size` bytes (at least 8) is [u32 writer][u32 seq][filler], little-endian; each
 * writer numbers its frames 0, 1, 2, ... and readers check every writer's sequence.
 *
 *   sink(u32 capacity, u32 frames, u32 size, u32 batched)
 *       creates a Park channel of `capacity` bytes, opens a strong reader and shares the
 *       channel: Info "ready" {channel: shared id}. Then reads `frames` frames, one
 *       channel_read each (batched 0) or with channel_read_batch into a buffer of
 *       max(256 KiB, 4 frames), and returns status 0; 2 with Error "bad frame" {writer, seq,
 *       length} on a frame out of order or of the wrong size; 1 with Error "read failed".
 *   tap(resource channel, u32 frames, u32 size, u32 batched)
 *       the same on a channel it is given: Info "ready" once its strong reader is open.
 *   source(resource channel, u32 frames, u32 size, u32 batch, u32 writer)
 *       opens a strong writer and writes `frames` frames as writer `writer`: one channel_write
 *       each (batch 0 or 1) or channel_write_batch of `batch` frames at a time. Status 0, or 3
 *       with Error "write failed".
 * Both roles end with Info "moved" {frames, calls: channel hostcalls made, waits: how many of
 * them returned WouldBlock}. */
#include <selium/selium.h>

#define WAKER 1
#define MAX_WRITERS 64
#define MIN_READ_BUFFER (256u * 1024u)
#define MAX_BUFFER (1u << 20) /* the batch or read buffer; ample for 4 frames of 64 KiB */

enum role { ROLE_NONE, ROLE_READER, ROLE_WRITER };

static struct {
  enum role role;
  int32_t handle;
  uint32_t frames; /* to move */
  uint32_t done;   /* moved so far */
  uint32_t size;
  uint32_t batch;  /* frames per write batch (writers); 0 or 1: one hostcall per frame */
  bool batched;    /* readers */
  uint32_t writer; /* writers: its id */
  uint32_t cap;    /* bytes of `buffer` in use */
  uint32_t at;     /* writers: bytes of the current batch already written */
  uint32_t batch_bytes;
  uint32_t next[MAX_WRITERS]; /* readers: each writer's next seq */
  uint64_t calls;             /* channel reads or writes made */
  uint64_t waits;             /* of them, WouldBlock */
} s;

static uint8_t buffer[MAX_BUFFER + 64];

static uint32_t load32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void failWith(const char* what, int32_t result, int32_t status) {
  char message[256];
  selium_last_error_message(message, sizeof message);
  selium_log_field_t fields[] = {SELIUM_FIELD_STR("error", selium_error_name(result)),
                                 SELIUM_FIELD_STR("message", message)};
  selium_log_fields(SELIUM_LOG_ERROR, "bench", what, fields, 2);
  selium_exit(status);
}

static void badFrame(uint32_t writer, uint32_t seq, uint32_t length) {
  selium_log_field_t fields[] = {SELIUM_FIELD_UINT("writer", writer), SELIUM_FIELD_UINT("seq", seq),
                                 SELIUM_FIELD_UINT("length", length)};
  selium_log_fields(SELIUM_LOG_ERROR, "bench", "bad frame", fields, 3);
  selium_exit(2);
}

static void checkFrame(const uint8_t* frame, uint32_t length) {
  uint32_t writer = load32(frame);
  uint32_t seq = load32(frame + 4);
  if (length != s.size || writer >= MAX_WRITERS || seq != s.next[writer]) {
    badFrame(writer, seq, length);
  }
  ++s.next[writer];
}

static void startReader(int32_t channel, uint32_t frames, uint32_t size, uint32_t batched) {
  int32_t reader = selium_channel_reader_open(channel, SELIUM_STRONG);
  if (reader < 0) failWith("reader open failed", reader, 1);
  s.role = ROLE_READER;
  s.handle = reader;
  s.frames = frames;
  s.size = size;
  s.batched = batched != 0;
  s.cap = size;
  if (s.batched) {
    uint32_t four = 4 * (SELIUM_BATCH_HEADER + size);
    s.cap = four > MIN_READ_BUFFER ? four : MIN_READ_BUFFER;
  }
  if (s.cap > MAX_BUFFER || size < 8)
    failWith("frame size out of range", -SELIUM_ERR_InvalidArgument, 1);
}

static void ready(int64_t channel_id) {
  selium_log_field_t fields[] = {SELIUM_FIELD_UINT("channel", (uint64_t)channel_id)};
  selium_log_fields(SELIUM_LOG_INFO, "bench", "ready", fields, 1);
}

SELIUM_EXPORT(sink)
void sink(uint32_t capacity, uint32_t frames, uint32_t size, uint32_t batched) {
  int32_t channel = selium_channel_create(capacity, SELIUM_BACKPRESSURE_PARK);
  if (channel < 0) failWith("create failed", channel, 1);
  startReader(channel, frames, size, batched);
  int64_t id = selium_handle_share(channel);
  if (id < 0) failWith("share failed", (int32_t)id, 1);
  ready(id);
}

SELIUM_EXPORT(tap)
void tap(int64_t channel, uint32_t frames, uint32_t size, uint32_t batched) {
  startReader((int32_t)channel, frames, size, batched);
  ready(0);
}

SELIUM_EXPORT(source)
void source(int64_t channel, uint32_t frames, uint32_t size, uint32_t batch, uint32_t writer) {
  int32_t handle = selium_channel_writer_open((int32_t)channel, SELIUM_STRONG);
  if (handle < 0) failWith("writer open failed", handle, 1);
  s.role = ROLE_WRITER;
  s.handle = handle;
  s.frames = frames;
  s.size = size;
  s.batch = batch > 1 ? batch : 0;
  s.writer = writer;
  uint32_t stride = s.batch != 0 ? SELIUM_BATCH_HEADER + size : size;
  uint32_t count = s.batch != 0 ? s.batch : 1;
  if (size < 8 || (uint64_t)stride * count > MAX_BUFFER) {
    failWith("frame size out of range", -SELIUM_ERR_InvalidArgument, 1);
  }
  /* The frames of one batch, each with its length (batches only), writer and filler; the
   * sequence numbers are set before each batch is written. */
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* frame = buffer + i * stride;
    if (s.batch != 0) {
      store32(frame, size);
      frame += SELIUM_BATCH_HEADER;
    }
    store32(frame, writer);
    for (uint32_t j = 8; j < size; ++j) frame[j] = (uint8_t)(i + j);
  }
  s.at = s.batch_bytes = 0;
}

static int32_t finish(void) {
  selium_log_field_t fields[] = {SELIUM_FIELD_UINT("frames", s.done),
                                 SELIUM_FIELD_UINT("calls", s.calls),
                                 SELIUM_FIELD_UINT("waits", s.waits)};
  selium_log_fields(SELIUM_LOG_INFO, "bench", "moved", fields, 3);
  return SELIUM_POLL_DONE;
}

static int32_t readStep(void) {
  while (s.done < s.frames) {
    ++s.calls;
    int32_t n = s.batched ? selium_channel_read_batch(s.handle, SELIUM_ADDR(buffer), s.cap, WAKER)
                          : selium_channel_read(s.handle, SELIUM_ADDR(buffer), s.cap, WAKER);
    if (n == -SELIUM_ERR_WouldBlock) {
      ++s.waits;
      return SELIUM_POLL_PENDING;
    }
    if (n < 0) failWith("read failed", n, 1);
    if ((uint32_t)n > s.cap) badFrame(0, 0, (uint32_t)n); /* a frame larger than `size` */
    if (!s.batched) {
      checkFrame(buffer, (uint32_t)n);
      ++s.done;
      continue;
    }
    for (uint32_t at = 0; at < (uint32_t)n;) {
      uint32_t length = load32(buffer + at);
      checkFrame(buffer + at + SELIUM_BATCH_HEADER, length);
      at += SELIUM_BATCH_HEADER + length;
      ++s.done;
    }
  }
  return finish();
}

static int32_t writeStep(void) {
  const uint32_t stride = SELIUM_BATCH_HEADER + s.size;
  while (s.done < s.frames) {
    ++s.calls;
    if (s.batch == 0) {
      store32(buffer + 4, s.done);
      int32_t r = selium_channel_write(s.handle, SELIUM_ADDR(buffer), s.size, WAKER);
      if (r == -SELIUM_ERR_WouldBlock) {
        ++s.waits;
        return SELIUM_POLL_PENDING;
      }
      if (r < 0) failWith("write failed", r, 3);
      ++s.done;
      continue;
    }
    if (s.at == s.batch_bytes) { /* the next batch: number its frames */
      uint32_t left = s.frames - s.done;
      uint32_t count = left < s.batch ? left : s.batch;
      for (uint32_t i = 0; i < count; ++i) {
        store32(buffer + i * stride + SELIUM_BATCH_HEADER + 4, s.done + i);
      }
      s.at = 0;
      s.batch_bytes = count * stride;
    }
    int32_t n = selium_channel_write_batch(s.handle, SELIUM_ADDR(buffer + s.at),
                                           s.batch_bytes - s.at, WAKER);
    if (n == -SELIUM_ERR_WouldBlock) {
      ++s.waits;
      return SELIUM_POLL_PENDING;
    }
    if (n < 0) failWith("write failed", n, 3);
    s.at += (uint32_t)n * stride;
    s.done += (uint32_t)n;
  }
  return finish();
}

/* Called after the entrypoint returns and whenever waker 1 fires: runs the loop until it would
 * block or is done. */
SELIUM_EXPORT(selium_poll) int32_t selium_poll(int32_t waker) {
  (void)waker;
  switch (s.role) {
    case ROLE_READER:
      return readStep();
    case ROLE_WRITER:
      return writeStep();
    default:
      return SELIUM_POLL_DONE;
  }
}
