#include "runtime/module_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace selium::runtime {
namespace {

using kernel::Capability;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ModuleSpec parseOk(std::string_view text) {
  ModuleSpecParse parsed = parseModuleSpec(text, 1);
  std::string errors;
  for (const auto& e : parsed.errors) errors += e.toString() + "\n";
  EXPECT_TRUE(parsed.spec.has_value()) << "spec: " << text << "\nerrors:\n" << errors;
  EXPECT_TRUE(parsed.errors.empty());
  return parsed.spec.value_or(ModuleSpec{});
}

std::vector<std::string> errorsOf(std::string_view text, std::size_t number = 1) {
  ModuleSpecParse parsed = parseModuleSpec(text, number);
  EXPECT_FALSE(parsed.spec.has_value()) << "spec unexpectedly valid: " << text;
  std::vector<std::string> out;
  for (const auto& e : parsed.errors) out.push_back(e.toString());
  return out;
}

// The three examples of the product documentation.
TEST(ModuleSpec, ProductDocExampleWaf) {
  ModuleSpec spec = parseOk(
      "path=myproj/waf.wasm;entrypoint=init;capabilities=NetHttpsAccept,NetHttpsRead;"
      "params=utf8,u16;args=localhost,7000");
  EXPECT_EQ(spec.number, 1u);
  EXPECT_EQ(spec.path, "myproj/waf.wasm");
  EXPECT_EQ(spec.entrypoint, "init");
  EXPECT_THAT(spec.capabilities.inOrder(),
              ElementsAre(Capability::NetHttpsAccept, Capability::NetHttpsRead));
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::Utf8, std::string("localhost")},
                                     EntrypointArg{ParamKind::U16, uint64_t{7000}}));
  EXPECT_EQ(spec.log_uri, std::nullopt);
}

TEST(ModuleSpec, ProductDocExampleMiner) {
  ModuleSpec spec = parseOk(
      "path=miner.wasm;capabilities=ChannelLifecycle,ChannelWriter;args=resource:14;"
      "log_uri=sel://miner/logs");
  EXPECT_EQ(spec.path, "miner.wasm");
  EXPECT_EQ(spec.entrypoint, "start");
  EXPECT_THAT(spec.capabilities.inOrder(),
              ElementsAre(Capability::ChannelLifecycle, Capability::ChannelWriter));
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::Resource, uint64_t{14}}));
  EXPECT_EQ(spec.log_uri, "sel://miner/logs");
}

TEST(ModuleSpec, ProductDocExampleDevNullWithNoCapabilities) {
  ModuleSpec spec = parseOk("path=dev_null.wasm;capabilities=");
  EXPECT_EQ(spec.path, "dev_null.wasm");
  EXPECT_TRUE(spec.capabilities.empty());
  EXPECT_TRUE(spec.args.empty());
}

TEST(ModuleSpec, EntriesSplitOnSemicolonsAndNewlinesAndSkipCommentsAndBlanks) {
  ModuleSpec spec = parseOk(
      "  # a comment = with equals\n path = a.wasm ;; \n\n capabilities = TimeRead ;"
      "#entrypoint=ignored\nentrypoint= run ");
  EXPECT_EQ(spec.path, "a.wasm");
  EXPECT_EQ(spec.entrypoint, "run");
  EXPECT_THAT(spec.capabilities.inOrder(), ElementsAre(Capability::TimeRead));
}

TEST(ModuleSpec, ValueSplitsAtFirstEquals) {
  ModuleSpec spec = parseOk("path=a.wasm;capabilities=;args=utf8:k=v;log_uri=sel://x?a=b");
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::Utf8, std::string("k=v")}));
  EXPECT_EQ(spec.log_uri, "sel://x?a=b");
}

TEST(ModuleSpec, KeyAliases) {
  ModuleSpec spec = parseOk("path=a.wasm;capabilities=;param=u8;args=5;log-uri=sel://l");
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::U8, uint64_t{5}}));
  EXPECT_EQ(spec.log_uri, "sel://l");
}

TEST(ModuleSpec, DuplicateKeysIncludingAliasesAreErrors) {
  EXPECT_THAT(
      errorsOf("path=a.wasm;capabilities=;path=b.wasm"),
      ElementsAre("--module #1: path \"b.wasm\": duplicate key (already given in entry 1)"));
  EXPECT_THAT(
      errorsOf("path=a.wasm;capabilities=;log_uri=sel://a;log-uri=sel://b"),
      ElementsAre("--module #1: log_uri \"sel://b\": duplicate key (already given in entry 3)"));
  EXPECT_THAT(errorsOf("params=u8;path=a.wasm;capabilities=;param=u8;args=1"),
              ElementsAre("--module #1: params \"u8\": duplicate key (already given in entry 1)"));
}

TEST(ModuleSpec, MalformedAndUnknownEntriesNameTheirPosition) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;oops"),
              ElementsAre("--module #1: entry 3 \"oops\": expected key=value"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;colour=red"),
              ElementsAre("--module #1: entry 3 \"colour\": unknown key; known keys: path, "
                          "entrypoint, capabilities, params, args, log_uri, max_memory, "
                          "max_table_elements, env"));
  EXPECT_THAT(errorsOf("Path=a.wasm;capabilities="),
              ElementsAre("--module #1: entry 1 \"Path\": unknown key; keys are case-sensitive; "
                          "did you mean path?",
                          "--module #1: path: required key is missing (the module's path under "
                          "modules/)"));
}

TEST(ModuleSpec, EmptySpecIsAnError) {
  EXPECT_THAT(errorsOf("", 4), ElementsAre("--module #4: spec: module specification is empty"));
  EXPECT_THAT(errorsOf(" ; # only a comment\n;"),
              ElementsAre("--module #1: spec \" ; # only a comment\\x0a;\": module specification "
                          "is empty"));
}

TEST(ModuleSpec, RequiredKeys) {
  EXPECT_THAT(errorsOf("entrypoint=go"),
              ElementsAre("--module #1: path: required key is missing (the module's path under "
                          "modules/)",
                          "--module #1: capabilities: required key is missing (write "
                          "`capabilities=` for a process with none)"));
}

TEST(ModuleSpec, PathOutsideModulesSaysWhereToCopyTheFile) {
  ModuleSpecParse parsed =
      parseModuleSpec("path=/home/me/build/app.wasm;capabilities=", 2, "/srv/selium/modules/");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].toString(),
            "--module #2: path \"/home/me/build/app.wasm\": module path must be relative to the "
            "work dir's modules/ folder; copy the file into /srv/selium/modules/ and write "
            "path=app.wasm");
  parsed = parseModuleSpec("path=sub/..;capabilities=", 1, "/srv/selium/modules/");
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].toString(),
            "--module #1: path \"sub/..\": module path must not contain \"..\" segments; copy "
            "the file into /srv/selium/modules/");  // no file name to suggest
}

TEST(ModuleSpec, PathRules) {
  EXPECT_THAT(errorsOf("path=;capabilities="),
              ElementsAre("--module #1: path: module path must not be empty"));
  EXPECT_THAT(errorsOf("path=/etc/x.wasm;capabilities="),
              ElementsAre("--module #1: path \"/etc/x.wasm\": module path must be relative to the "
                          "work dir's modules/ folder; copy the file into <work-dir>/modules/ and "
                          "write path=x.wasm"));
  EXPECT_THAT(errorsOf("path=../x.wasm;capabilities="),
              ElementsAre("--module #1: path \"../x.wasm\": module path must not contain \"..\" "
                          "segments; copy the file into <work-dir>/modules/ and write "
                          "path=x.wasm"));
  EXPECT_THAT(errorsOf("path=a/../../x.wasm;capabilities="),
              ElementsAre(HasSubstr("must not contain \"..\" segments")));
  EXPECT_EQ(parseOk("path=sub/dir/x..y.wasm;capabilities=").path, "sub/dir/x..y.wasm");
  EXPECT_EQ(parseOk("path=./x.wasm;capabilities=").path, "./x.wasm");
  EXPECT_THAT(errorsOf("path=\xff.wasm;capabilities="),
              ElementsAre("--module #1: path \"\xff.wasm\": module path is not valid UTF-8"));
}

TEST(ModuleSpec, EntrypointAndLogUriMustNotBeEmpty) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;entrypoint=;log_uri="),
              ElementsAre("--module #1: entrypoint: entrypoint must not be empty (omit the key "
                          "for \"start\")",
                          "--module #1: log_uri: log_uri must not be empty (omit the key for "
                          "none)"));
}

TEST(ModuleSpec, MaxMemoryTakesASizeWithUnits) {
  EXPECT_EQ(parseOk("path=a.wasm;capabilities=;max_memory=64MiB").max_memory, 64u << 20);
  EXPECT_EQ(parseOk("path=a.wasm;capabilities=;max-memory=65536").max_memory, 65536u);
  EXPECT_EQ(parseOk("path=a.wasm;capabilities=").max_memory, std::nullopt);
  EXPECT_EQ(parseOk("path=a.wasm;capabilities=;max_table_elements=5000").max_table_elements, 5000u);
  EXPECT_EQ(parseOk("path=a.wasm;capabilities=;max-table-elements=0").max_table_elements, 0u);
  EXPECT_EQ(parseOk("path=a.wasm;capabilities=").max_table_elements, std::nullopt);
  for (const char* bad : {"lots", "-1", "100000001", "1e6"}) {
    EXPECT_THAT(errorsOf(std::string("path=a.wasm;capabilities=;max_table_elements=") + bad),
                ElementsAre("--module #1: max_table_elements \"" + std::string(bad) +
                            "\": expected a number of elements from 0 to 100000000"))
        << bad;
  }
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;max_memory=lots"),
              ElementsAre("--module #1: max_memory \"lots\": expected a size of at least 64KiB, "
                          "e.g. 65536, 512KiB, 64MiB or 1GiB"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;max_memory=1000"),
              ElementsAre(HasSubstr("at least 64KiB")));
}

TEST(ModuleSpec, CapabilitySpellingsAndDeduplication) {
  ModuleSpec spec = parseOk(
      "path=a.wasm;capabilities=channel_reader, CHANNELREADER,net-https-bind,ChannelReader,"
      "TimeRead,time_read,NetTlsServerConfig");
  EXPECT_THAT(spec.capabilities.inOrder(),
              ElementsAre(Capability::ChannelReader, Capability::NetHttpsBind, Capability::TimeRead,
                          Capability::NetTlsServerConfig));
}

TEST(ModuleSpec, EveryBadCapabilityIsReported) {
  EXPECT_THAT(
      errorsOf("path=a.wasm;capabilities=TimeRaed,,Logging,none"),
      ElementsAre(
          "--module #1: capabilities \"TimeRaed\": unknown capability; did you mean TimeRead?",
          "--module #1: capabilities \"TimeRaed,,Logging,none\": capability entry must not be "
          "empty (stray comma?)",
          "--module #1: capabilities \"Logging\": unknown capability; see `selium-runtime "
          "--help` for the list",
          "--module #1: capabilities \"none\": unknown capability; for no capabilities write "
          "`capabilities=` with nothing after it"));
}

TEST(ModuleSpec, ParamKindAliasesAreCaseInsensitive) {
  ModuleSpec spec = parseOk(
      "path=a.wasm;capabilities=;params=STRING,str,text,utf-8,bytes,byte,data,handle,HEX,I64;"
      "args=a,b,c,d,e,f,g,9,0aff,-1");
  ASSERT_EQ(spec.args.size(), 10u);
  EXPECT_EQ(spec.args[0], (EntrypointArg{ParamKind::Utf8, std::string("a")}));
  EXPECT_EQ(spec.args[3], (EntrypointArg{ParamKind::Utf8, std::string("d")}));
  EXPECT_EQ(spec.args[4], (EntrypointArg{ParamKind::Buffer, std::vector<uint8_t>{'e'}}));
  EXPECT_EQ(spec.args[6], (EntrypointArg{ParamKind::Buffer, std::vector<uint8_t>{'g'}}));
  EXPECT_EQ(spec.args[7], (EntrypointArg{ParamKind::Resource, uint64_t{9}}));
  EXPECT_EQ(spec.args[8], (EntrypointArg{ParamKind::Hex, std::vector<uint8_t>{0x0a, 0xff}}));
  EXPECT_EQ(spec.args[9], (EntrypointArg{ParamKind::I64, int64_t{-1}}));
}

TEST(ModuleSpec, ParamsErrors) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;params=;args=1"),
              ElementsAre("--module #1: params: params list must not be empty (omit the key for "
                          "no params)"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;params=u8,,i128;args=1,2,3"),
              ElementsAre("--module #1: params \"u8,,i128\": param 2 must not be empty",
                          "--module #1: params \"i128\": unknown param kind; known kinds: i8, u8, "
                          "i16, u16, i32, u32, i64, u64, f32, f64, utf8, buffer, hex, resource"));
}

TEST(ModuleSpec, TypedArgsSplitAtFirstColon) {
  ModuleSpec spec = parseOk("path=a.wasm;capabilities=;args=string:a:b,utf8:sel://x,u16:7000");
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::Utf8, std::string("a:b")},
                                     EntrypointArg{ParamKind::Utf8, std::string("sel://x")},
                                     EntrypointArg{ParamKind::U16, uint64_t{7000}}));
}

TEST(ModuleSpec, UntypedArgNeedsParams) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;args=sel://x,u8:1,7"),
              ElementsAre("--module #1: args \"sel://x\": argument 1 is missing a type: give "
                          "params, or prefix the value with its kind, e.g. utf8:sel://x",
                          "--module #1: args \"7\": argument 3 is missing a type: give params, or "
                          "prefix the value with its kind, e.g. u16:7 or u32:7"));
}

TEST(ModuleSpec, UntypedArgHintSuggestsTheKindItsValueReadsAs) {
  auto hint = [](std::string_view arg) {
    std::vector<std::string> errors =
        errorsOf("path=a.wasm;capabilities=;args=" + std::string(arg));
    EXPECT_EQ(errors.size(), 1u) << arg;
    std::string text = errors.empty() ? "" : errors[0];
    return text.substr(text.find("e.g. ") + 5);
  };
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;args=7000"),
              ElementsAre("--module #1: args \"7000\": argument 1 is missing a type: give params, "
                          "or prefix the value with its kind, e.g. u16:7000 or u32:7000"));
  EXPECT_EQ(hint("70000"), "u32:70000");
  EXPECT_EQ(hint("-3"), "i32:-3");
  EXPECT_EQ(hint("5000000000"), "u64:5000000000");
  EXPECT_EQ(hint("-5000000000"), "i64:-5000000000");
  EXPECT_EQ(hint("1.5"), "f64:1.5");
  EXPECT_EQ(hint("-2e10"), "f64:-2e10");
  EXPECT_EQ(hint("0x00ff"), "hex:0x00ff");
  EXPECT_EQ(hint("0x0ff"), "utf8:0x0ff");  // an odd number of digits is no hex payload
  EXPECT_EQ(hint("nan"), "utf8:nan");      // a word, more likely than a float
  EXPECT_EQ(hint("localhost"), "utf8:localhost");
}

TEST(ModuleSpec, UntypedArgWithParamsKeepsColons) {
  ModuleSpec spec = parseOk("path=a.wasm;capabilities=;params=utf8;args=sel://x");
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::Utf8, std::string("sel://x")}));
}

TEST(ModuleSpec, ArgCountMustMatchParams) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;params=u8,u8;args=1"),
              ElementsAre("--module #1: args \"1\": argument count mismatch: params declares 2 "
                          "but 1 arguments were given"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;params=u8"),
              ElementsAre("--module #1: args: argument count mismatch: params declares 1 but no "
                          "args were given"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;params=u8;args="),
              ElementsAre("--module #1: args: argument count mismatch: params declares 1 but 0 "
                          "arguments were given"));
}

TEST(ModuleSpec, TypedArgMustAgreeWithParams) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;params=u16,utf8;args=i32:5,str:x"),
              ElementsAre("--module #1: args \"i32:5\": argument 1 is typed i32 but params "
                          "declares u16"));
  // hex and buffer are the same wasm shape: a hex-typed value can fill a buffer param.
  ModuleSpec spec =
      parseOk("path=a.wasm;capabilities=;params=buffer,hex;args=hex:0x01_02,buffer:hi");
  EXPECT_THAT(spec.args,
              ElementsAre(EntrypointArg{ParamKind::Buffer, std::vector<uint8_t>{1, 2}},
                          EntrypointArg{ParamKind::Hex, std::vector<uint8_t>{'h', 'i'}}));
}

TEST(ModuleSpec, EmptyArgItemsAreErrorsButEmptyTypedValuesAreAllowed) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;args=u8:1,,u8:2"),
              ElementsAre("--module #1: args \"u8:1,,u8:2\": argument 2 must not be empty"));
  ModuleSpec spec = parseOk("path=a.wasm;capabilities=;args=utf8:,buffer:,hex:");
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::Utf8, std::string()},
                                     EntrypointArg{ParamKind::Buffer, std::vector<uint8_t>{}},
                                     EntrypointArg{ParamKind::Hex, std::vector<uint8_t>{}}));
}

TEST(ModuleSpec, IntegerExtremesParse) {
  ModuleSpec spec = parseOk(
      "path=a.wasm;capabilities=;args=i8:-128,i8:127,u8:255,i16:-32768,u16:65535,"
      "i32:-2147483648,u32:4294967295,i64:-9223372036854775808,i64:9223372036854775807,"
      "u64:18446744073709551615,u8:+7,u32:-0");
  ASSERT_EQ(spec.args.size(), 12u);
  EXPECT_EQ(spec.args[0].value, ArgValue{int64_t{-128}});
  EXPECT_EQ(spec.args[1].value, ArgValue{int64_t{127}});
  EXPECT_EQ(spec.args[2].value, ArgValue{uint64_t{255}});
  EXPECT_EQ(spec.args[3].value, ArgValue{int64_t{-32768}});
  EXPECT_EQ(spec.args[4].value, ArgValue{uint64_t{65535}});
  EXPECT_EQ(spec.args[5].value, ArgValue{int64_t{INT32_MIN}});
  EXPECT_EQ(spec.args[6].value, ArgValue{uint64_t{UINT32_MAX}});
  EXPECT_EQ(spec.args[7].value, ArgValue{std::numeric_limits<int64_t>::min()});
  EXPECT_EQ(spec.args[8].value, ArgValue{std::numeric_limits<int64_t>::max()});
  EXPECT_EQ(spec.args[9].value, ArgValue{std::numeric_limits<uint64_t>::max()});
  EXPECT_EQ(spec.args[10].value, ArgValue{uint64_t{7}});
  EXPECT_EQ(spec.args[11].value, ArgValue{uint64_t{0}});
}

TEST(ModuleSpec, IntegerRangeAndSyntaxErrorsNameKindAndRange) {
  EXPECT_THAT(
      errorsOf("path=a.wasm;capabilities=;args=i8:128,u8:-1,u16:70000,i64:9223372036854775808,"
               "u64:18446744073709551616,u32:12x,i32:0x10,u8:,u8: 1"),
      ElementsAre(
          "--module #1: args \"i8:128\": argument 1 (i8): out of range: expected a decimal "
          "integer from -128 to 127",
          "--module #1: args \"u8:-1\": argument 2 (u8): out of range: expected a decimal "
          "integer from 0 to 255",
          "--module #1: args \"u16:70000\": argument 3 (u16): out of range: expected a decimal "
          "integer from 0 to 65535",
          "--module #1: args \"i64:9223372036854775808\": argument 4 (i64): out of range: "
          "expected a decimal integer from -9223372036854775808 to 9223372036854775807",
          "--module #1: args \"u64:18446744073709551616\": argument 5 (u64): out of range: "
          "expected a decimal integer from 0 to 18446744073709551615",
          "--module #1: args \"u32:12x\": argument 6 (u32): not a number: expected a decimal "
          "integer from 0 to 4294967295",
          "--module #1: args \"i32:0x10\": argument 7 (i32): not a number: expected a decimal "
          "integer from -2147483648 to 2147483647",
          "--module #1: args \"u8:\": argument 8 (u8): not a number: expected a decimal integer "
          "from 0 to 255",
          "--module #1: args \"u8: 1\": argument 9 (u8): not a number: expected a decimal "
          "integer from 0 to 255"));
}

TEST(ModuleSpec, Floats) {
  ModuleSpec spec = parseOk(
      "path=a.wasm;capabilities=;args=f32:1.5,f64:-2e10,f64:inf,f32:NaN,f64:+0.25,f32:-inf");
  ASSERT_EQ(spec.args.size(), 6u);
  EXPECT_EQ(spec.args[0].value, ArgValue{1.5f});
  EXPECT_EQ(spec.args[1].value, ArgValue{-2e10});
  EXPECT_EQ(spec.args[2].value, ArgValue{std::numeric_limits<double>::infinity()});
  EXPECT_TRUE(std::isnan(std::get<float>(spec.args[3].value)));
  EXPECT_EQ(spec.args[4].value, ArgValue{0.25});
  EXPECT_EQ(spec.args[5].value, ArgValue{-std::numeric_limits<float>::infinity()});
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;args=f32:1e39,f64:abc,f64:1.5x,f32:+-1"),
              ElementsAre("--module #1: args \"f32:1e39\": argument 1 (f32): out of range for "
                          "f32 (too large, or too small to be represented)",
                          "--module #1: args \"f64:abc\": argument 2 (f64): not a number: "
                          "expected a decimal f64 such as 1.5, -2e10, inf or nan",
                          "--module #1: args \"f64:1.5x\": argument 3 (f64): not a number: "
                          "expected a decimal f64 such as 1.5, -2e10, inf or nan",
                          "--module #1: args \"f32:+-1\": argument 4 (f32): not a number: "
                          "expected a decimal f32 such as 1.5, -2e10, inf or nan"));
}

TEST(ModuleSpec, HexDigitsWithPrefixUnderscoresAndWhitespace) {
  ModuleSpec spec = parseOk("path=a.wasm;capabilities=;args=hex:0xDE_AD be\tEF,hex:0X00");
  EXPECT_THAT(spec.args, ElementsAre(EntrypointArg{ParamKind::Hex,
                                                   std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef}},
                                     EntrypointArg{ParamKind::Hex, std::vector<uint8_t>{0}}));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;args=hex:abc,hex:0xzz"),
              ElementsAre("--module #1: args \"hex:abc\": argument 1 (hex): hex payload must have "
                          "an even number of digits (got 3)",
                          "--module #1: args \"hex:0xzz\": argument 2 (hex): invalid hex digit "
                          "\"z\" at offset 2"));
}

TEST(ModuleSpec, BufferIsRawBytesAndUtf8MustBeValid) {
  ModuleSpec spec = parseOk("path=a.wasm;capabilities=;args=buffer:\xff\x01,utf8:h\xC3\xA9");
  EXPECT_THAT(spec.args,
              ElementsAre(EntrypointArg{ParamKind::Buffer, std::vector<uint8_t>{0xff, 1}},
                          EntrypointArg{ParamKind::Utf8, std::string("h\xC3\xA9")}));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;args=utf8:\xC3"),
              ElementsAre("--module #1: args \"utf8:\xC3\": argument 1 (utf8): not valid UTF-8"));
}

TEST(ModuleSpec, ResourceIsU64) {
  EXPECT_THAT(parseOk("path=a.wasm;capabilities=;args=handle:18446744073709551615").args,
              ElementsAre(EntrypointArg{ParamKind::Resource, UINT64_MAX}));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;args=resource:-1"),
              ElementsAre(HasSubstr("argument 1 (resource): out of range")));
}

TEST(ModuleSpec, AllErrorsOfASpecAreReportedTogether) {
  auto errors = errorsOf(
      "path=../up.wasm;capabilities=Bogus;entrypoint=;params=u8;args=300;log_uri=;what=1", 3);
  EXPECT_THAT(errors,
              ElementsAre(HasSubstr("--module #3: entry 7 \"what\": unknown key"),
                          HasSubstr("--module #3: path \"../up.wasm\""),
                          HasSubstr("--module #3: entrypoint: entrypoint must not be empty"),
                          HasSubstr("--module #3: capabilities \"Bogus\": unknown capability"),
                          HasSubstr("--module #3: args \"300\": argument 1 (u8): out of range"),
                          HasSubstr("--module #3: log_uri: log_uri must not be empty")));
}

TEST(ModuleSpec, EnvIsAListOfNameValuePairsInOrder) {
  EXPECT_TRUE(parseOk("path=a.wasm;capabilities=").env.empty());  // empty unless given
  EXPECT_TRUE(parseOk("path=a.wasm;capabilities=;env=").env.empty());
  ModuleSpec spec = parseOk(
      "path=a.wasm;capabilities=;env=GREETING=hello world, _x1 = 2 ,EMPTY=,EQ=a=b,U=\xC3\xA9");
  EXPECT_THAT(spec.env,
              ElementsAre("GREETING=hello world", "_x1=2", "EMPTY=", "EQ=a=b", "U=\xC3\xA9"));
}

TEST(ModuleSpec, EnvErrorsNameTheEntry) {
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;env=1X=2"),
              ElementsAre("--module #1: env \"1X=2\": invalid variable name \"1X\": a name starts "
                          "with a letter or \"_\" and has only letters, digits and \"_\""));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;env=NOVALUE"),
              ElementsAre("--module #1: env \"NOVALUE\": expected NAME=value"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;env==x,A-B=1", 2),
              ElementsAre(HasSubstr("--module #2: env \"=x\": invalid variable name \"\""),
                          HasSubstr("--module #2: env \"A-B=1\": invalid variable name \"A-B\"")));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;env=A=1,B=2,A=3"),
              ElementsAre("--module #1: env \"A=3\": variable A is given twice"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;env=A=1,,B=2"),
              ElementsAre(HasSubstr("variable entry must not be empty")));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;env=A=\xFF"),
              ElementsAre("--module #1: env \"A=\xFF\": value of A is not valid UTF-8 text"));
  EXPECT_THAT(errorsOf("path=a.wasm;capabilities=;env=A=1;env=B=2"),
              ElementsAre(HasSubstr("env \"B=2\": duplicate key (already given in entry 3)")));
}

TEST(ModuleSpec, ErrorMessagesEscapeControlCharacters) {
  auto errors = errorsOf("path=a.wasm;capabilities=Time\x1b[31mRead");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].find('\x1b'), std::string::npos);
  EXPECT_THAT(errors[0], HasSubstr("\\x1b"));
}

TEST(RunParts, ItemsAreWordsNotCommaListsAndKeepTheirSpaces) {
  ModuleSpec spec;
  auto errors = parseRunParts(
      {{"TimeRead", "net-quic-bind"}, std::string("utf8,u32"), {" a, b ", "7"}, {"A= x,y=z", "B="}},
      spec);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(spec.capabilities.contains(Capability::TimeRead));
  EXPECT_TRUE(spec.capabilities.contains(Capability::NetQuicBind));
  ASSERT_EQ(spec.args.size(), 2u);
  EXPECT_EQ(std::get<std::string>(spec.args[0].value), " a, b ");
  EXPECT_THAT(spec.env, ElementsAre("A= x,y=z", "B="));
}

TEST(RunParts, ReportsEveryProblemUnderItsKey) {
  ModuleSpec spec;
  auto errors = parseRunParts({{"Nope"}, std::nullopt, {"5"}, {"1X=a", "A=1", "A=2"}}, spec);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].key, "capabilities");
  EXPECT_EQ(errors[0].value, "Nope");
  EXPECT_EQ(errors[1].key, "args");
  EXPECT_THAT(errors[1].message, HasSubstr("missing a type"));
  EXPECT_EQ(errors[2].key, "env");
  EXPECT_THAT(errors[2].message, HasSubstr("invalid variable name"));
  EXPECT_EQ(errors[3].key, "env");
  EXPECT_THAT(errors[3].message, HasSubstr("given twice"));
}

TEST(RunParts, AnEmptyWordIsAnEmptyValue) {
  ModuleSpec spec;
  EXPECT_TRUE(parseRunParts({{}, std::string("utf8"), {""}, {}}, spec).empty());
  ASSERT_EQ(spec.args.size(), 1u);
  EXPECT_EQ(std::get<std::string>(spec.args[0].value), "");
}

}  // namespace
}  // namespace selium::runtime
