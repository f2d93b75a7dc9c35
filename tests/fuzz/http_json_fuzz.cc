// Fuzz target for the http_json example's JSON (examples/http_json/json.h), which parses request
// bodies from any client. Beyond "no crash": a body is either one object or an error with a
// reason, and every string it yields survives quoted() and a second parse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "json.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// Parses {"k": quoted(value)} and checks it gives back `value`.
void checkRoundTrip(const std::string& value) {
  const std::string text = "{" + http_json::quoted(value) + ":" + http_json::quoted(value) + "}";
  http_json::JsonParser again(text);
  auto members = again.object();
  check(members.has_value());
  check(members->size() == 1);
  check((*members)[0].first == value);
  check((*members)[0].second.type == http_json::Scalar::Type::String);
  check((*members)[0].second.string == value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  http_json::JsonParser parser(body);
  auto members = parser.object();
  if (!members) {
    check(!parser.error().empty());
    return 0;
  }
  check(parser.error().empty());
  for (const auto& [key, value] : *members) {
    checkRoundTrip(key);
    if (value.type == http_json::Scalar::Type::String) checkRoundTrip(value.string);
  }
  return 0;
}
