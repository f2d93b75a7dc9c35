// Minimal, strict JSON for the http_json example: string literals out, one object of scalar
// members in (RFC 8259 grammar, UTF-8 checked, nesting bounded). No SDK dependency, so the
// fuzz target (tests/fuzz/http_json_fuzz.cc) builds it natively.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace http_json {

// Nesting of arrays and objects: bounds the parser's recursion.
inline constexpr int kMaxJsonDepth = 32;

// ---- JSON out ----

inline void appendHex4(std::string& out, unsigned v) {
  constexpr char kDigits[] = "0123456789abcdef";
  out += "\\u00";
  out += kDigits[(v >> 4) & 0xf];
  out += kDigits[v & 0xf];
}

// `text` (valid UTF-8) as a JSON string literal.
inline std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          appendHex4(out, static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

// ---- JSON in ----

// What a parsed value was, with its contents when it is a string or a bool (arrays, objects and
// numbers are checked against the grammar but not kept: no item field takes one).
struct Scalar {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  std::string string;
};

inline const char* typeName(Scalar::Type type) {
  switch (type) {
    case Scalar::Type::Null:
      return "null";
    case Scalar::Type::Bool:
      return "a boolean";
    case Scalar::Type::Number:
      return "a number";
    case Scalar::Type::String:
      return "a string";
    case Scalar::Type::Array:
      return "an array";
    case Scalar::Type::Object:
      return "an object";
  }
  return "?";
}

// A strict RFC 8259 parser of one object whose members are kept as Scalars. Errors name the
// byte offset and what was expected there.
class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  // The members of the object `text` holds, in order; nullopt (and error()) if it is not exactly
  // one JSON object, or if a key repeats.
  std::optional<std::vector<std::pair<std::string, Scalar>>> object() {
    std::vector<std::pair<std::string, Scalar>> members;
    skipSpace();
    if (!expect('{', "'{' (the body must be a JSON object)")) return std::nullopt;
    skipSpace();
    if (peek() == '}') {
      ++pos_;
    } else {
      for (;;) {
        skipSpace();
        std::string key;
        if (peek() != '"' || !string(key)) {
          if (error_.empty()) fail("a string key");
          return std::nullopt;
        }
        for (const auto& member : members) {
          if (member.first == key) {
            error_ = "key " + quoted(key) + " appears twice";
            return std::nullopt;
          }
        }
        skipSpace();
        if (!expect(':', "':'")) return std::nullopt;
        Scalar value;
        if (!this->value(1, value)) return std::nullopt;
        members.emplace_back(std::move(key), std::move(value));
        skipSpace();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (!expect('}', "',' or '}'")) return std::nullopt;
        break;
      }
    }
    skipSpace();
    if (pos_ != text_.size()) {
      fail("the end of the body");
      return std::nullopt;
    }
    return members;
  }

  const std::string& error() const { return error_; }

 private:
  int peek() const { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : -1; }

  // Records what is wrong at the current byte; false.
  bool invalid(std::string_view problem) {
    error_ = "invalid JSON at byte " + std::to_string(pos_) + ": " + std::string(problem);
    return false;
  }
  bool fail(std::string_view expected) {
    return invalid("expected " + std::string(expected) +
                   (pos_ >= text_.size() ? ", found the end" : ""));
  }

  bool expect(char c, std::string_view what) {
    if (peek() != static_cast<unsigned char>(c)) return fail(what);
    ++pos_;
    return true;
  }

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool value(int depth, Scalar& out) {
    skipSpace();
    switch (peek()) {
      case '"':
        out.type = Scalar::Type::String;
        return string(out.string);
      case '{':
        out.type = Scalar::Type::Object;
        return nested(depth, '}');
      case '[':
        out.type = Scalar::Type::Array;
        return nested(depth, ']');
      case 't':
        out.type = Scalar::Type::Bool;
        out.boolean = true;
        return literal("true");
      case 'f':
        out.type = Scalar::Type::Bool;
        out.boolean = false;
        return literal("false");
      case 'n':
        out.type = Scalar::Type::Null;
        return literal("null");
      default:
        out.type = Scalar::Type::Number;
        return number();
    }
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return fail(word);
    pos_ += word.size();
    return true;
  }

  bool digits() {
    if (peek() < '0' || peek() > '9') return fail("a digit");
    while (peek() >= '0' && peek() <= '9') ++pos_;
    return true;
  }

  bool number() {
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      (void)digits();
    } else {
      return fail("a value");
    }
    if (peek() == '.') {
      ++pos_;
      if (!digits()) return false;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return false;
    }
    return true;
  }

  // An array or object below this depth, checked and dropped.
  bool nested(int depth, char close) {
    if (depth >= kMaxJsonDepth) {
      return invalid("arrays and objects nested deeper than " + std::to_string(kMaxJsonDepth) +
                     " levels");
    }
    ++pos_;
    skipSpace();
    if (peek() == close) {
      ++pos_;
      return true;
    }
    for (;;) {
      Scalar ignored;
      if (close == '}') {
        skipSpace();
        std::string key;
        if (peek() != '"') return fail("a string key");
        if (!string(key)) return false;
        skipSpace();
        if (!expect(':', "':'")) return false;
      }
      if (!value(depth + 1, ignored)) return false;
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      return expect(close, close == '}' ? "',' or '}'" : "',' or ']'");
    }
  }

  bool hex4(uint32_t& out) {
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int c = peek();
      uint32_t digit;
      if (c >= '0' && c <= '9') {
        digit = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return fail("four hex digits after \\u");
      }
      out = out * 16 + digit;
      ++pos_;
    }
    return true;
  }

  static void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  bool escape(std::string& out) {
    ++pos_;  // the backslash
    int c = peek();
    ++pos_;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += static_cast<char>(c);
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        break;
      default:
        --pos_;
        return fail("an escape (one of \"\\/bfnrtu) after '\\'");
    }
    uint32_t cp;
    if (!hex4(cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) {
      pos_ -= 6;
      return invalid("a low surrogate without a high one before it");
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {  // a high surrogate: its low half must follow
      if (text_.substr(pos_, 2) != "\\u") return fail("\\u and a low surrogate");
      pos_ += 2;
      uint32_t low;
      if (!hex4(low)) return false;
      if (low < 0xdc00 || low > 0xdfff) {
        pos_ -= 6;
        return fail("a low surrogate (\\udc00 to \\udfff)");
      }
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    appendUtf8(out, cp);
    return true;
  }

  // One UTF-8 sequence of 2 to 4 bytes, checked (no overlong forms, surrogates or values past
  // U+10FFFF), copied to `out`.
  bool utf8Sequence(std::string& out) {
    const unsigned lead = static_cast<unsigned char>(text_[pos_]);
    std::size_t length;
    uint32_t cp;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      cp = lead & 0x1f;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      cp = lead & 0x0f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      cp = lead & 0x07;
    } else {
      return invalid("not valid UTF-8");
    }
    if (text_.size() - pos_ < length) return invalid("not valid UTF-8");
    for (std::size_t i = 1; i < length; ++i) {
      const unsigned next = static_cast<unsigned char>(text_[pos_ + i]);
      if ((next & 0xc0) != 0x80) return invalid("not valid UTF-8");
      cp = (cp << 6) | (next & 0x3f);
    }
    const bool overlong = (length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return invalid("not valid UTF-8");
    }
    out.append(text_.substr(pos_, length));
    pos_ += length;
    return true;
  }

  bool string(std::string& out) {
    ++pos_;  // the opening quote
    for (;;) {
      int c = peek();
      if (c < 0) return fail("'\"' to close the string");
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return invalid("a control character in a string (it must be escaped)");
      if (c == '\\') {
        if (!escape(out)) return false;
      } else if (c >= 0x80) {
        if (!utf8Sequence(out)) return false;
      } else {
        out += static_cast<char>(c);
        ++pos_;
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace http_json
