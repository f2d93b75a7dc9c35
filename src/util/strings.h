// Small string helpers used by parsers: trimming, splitting, ASCII case folding, UTF-8 checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace selium::util {

// Removes ASCII whitespace from both ends.
std::string_view trim(std::string_view text);

// Splits on any character in `separators`; keeps empty pieces.
std::vector<std::string_view> split(std::string_view text, std::string_view separators);

// ASCII lower-case copy.
std::string toLower(std::string_view text);

// ASCII case-insensitive equality.
bool equalsIgnoreCase(std::string_view a, std::string_view b);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool isValidUtf8(std::string_view text);

// A portable environment variable name: a letter or "_", then letters, digits and "_".
bool isEnvName(std::string_view name);

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
std::string toValidUtf8(std::string_view text);

// Length of `text` without a multi-byte UTF-8 sequence that its end cuts short (0 to 3 bytes
// shorter), so a long text can be split into pieces without splitting a character.
std::size_t utf8PrefixLength(std::string_view text);

// Levenshtein distance, for "did you mean" hints; both inputs are short.
std::size_t editDistance(std::string_view a, std::string_view b);

// The candidate closest to `text` by editDistance, for a "did you mean" hint: nullopt when none
// is close enough to be a typo (more than 3 edits, or more than half of `text`). Ties go to the
// earlier candidate. Texts over 128 characters are never matched, which keeps the quadratic
// distance off long names from untrusted modules.
std::optional<std::string_view> closestMatch(std::string_view text,
                                             std::span<const std::string_view> candidates);

// Replaces ASCII control characters (and DEL) with \xNN; everything else is kept.
std::string escapeControl(std::string_view text);

// Quotes `text` for an error message: printable ASCII as is, everything else escaped, so a
// message never carries control characters from untrusted input.
std::string quote(std::string_view text);

// A byte size: decimal digits with an optional unit, "65536", "64KiB", "256MiB", "1GiB" (also
// K/M/G, KB/MB/GB = powers of 1024, any letter case). nullopt if malformed or over 2^62.
std::optional<uint64_t> parseByteSize(std::string_view text);

}  // namespace selium::util
