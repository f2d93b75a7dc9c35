// The sel:// grammar: every row of the Rust Atlas's table and each of its tests, then the WHATWG
// details the table relies on, the deliberate differences, hostile input and the limits.
#include "selium/uri.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace selium {
namespace {

using Path = std::vector<std::string>;

Uri parsed(std::string_view text) {
  UriResult uri = Uri::parse(text);
  EXPECT_TRUE(uri.ok()) << text << ": " << (uri.ok() ? "" : uri.error().text());
  if (!uri.ok()) return *Uri::parse("sel://parse-failed");
  return *uri;
}

UriError failed(std::string_view text) {
  UriResult uri = Uri::parse(text);
  EXPECT_FALSE(uri.ok()) << text << " parsed as " << (uri.ok() ? uri->toString() : "");
  if (uri.ok()) return UriError(UriErrorKind::BadUri, "parsed");
  return uri.error();
}

void expectParts(std::string_view text, const std::string& tenant, const Path& path,
                 const std::string& application, const std::string& service,
                 const std::string& endpoint) {
  Uri uri = parsed(text);
  EXPECT_EQ(uri.tenant(), tenant) << text;
  EXPECT_EQ(uri.path(), path) << text;
  EXPECT_EQ(uri.application(), application) << text;
  EXPECT_EQ(uri.service(), service) << text;
  EXPECT_EQ(uri.endpoint(), endpoint) << text;
}

// ---- the table of the reference (§1.2) ----

TEST(UriGrammar, TenantOnly) { expectParts("sel://tenant", "tenant", {}, "", "", ""); }

TEST(UriGrammar, ApplicationWithTrailingSlash) {
  expectParts("sel://tenant/app.app/", "tenant", {}, "app.app", "", "");
}

TEST(UriGrammar, ApplicationWithoutTrailingSlash) {
  expectParts("sel://tenant/app.app", "tenant", {}, "app.app", "", "");
}

TEST(UriGrammar, ApplicationAndService) {
  expectParts("sel://tenant/app.app/service", "tenant", {}, "app.app", "service", "");
}

TEST(UriGrammar, PathApplicationServiceAndEndpoint) {
  expectParts("sel://tenant/team/payments/orders.app/runner:rpc", "tenant", {"team", "payments"},
              "orders.app", "runner", "rpc");
}

TEST(UriGrammar, SegmentsWithoutAppSuffixArePath) {
  expectParts("sel://tenant/team/service", "tenant", {"team", "service"}, "", "", "");
}

TEST(UriGrammar, TrailingSlashLosesTheApplication) {
  expectParts("sel://t/a.app/svc/", "t", {"a.app", "svc"}, "", "", "");
}

TEST(UriGrammar, ApplicationMustBeLastOrSecondToLast) {
  expectParts("sel://t/a.app/b/c", "t", {"a.app", "b", "c"}, "", "", "");
}

TEST(UriGrammar, ServiceMayEndWithApp) {
  expectParts("sel://t/x.app/y.app", "t", {}, "x.app", "y.app", "");
}

TEST(UriGrammar, EndpointSplitsAtTheFirstColon) {
  expectParts("sel://t/a.app/s:e:f", "t", {}, "a.app", "s", "e:f");
}

TEST(UriGrammar, ColonWithoutApplicationIsPath) {
  expectParts("sel://t/svc:ep", "t", {"svc:ep"}, "", "", "");
}

TEST(UriGrammar, EmptyServiceOrEndpointIsInvalidPath) {
  for (const char* text : {"sel://t/a.app/:ep", "sel://t/a.app/s:", "sel://t/a.app/:"}) {
    UriError error = failed(text);
    EXPECT_EQ(error.kind(), UriErrorKind::InvalidPath) << text;
    EXPECT_EQ(error.summary(), "URI path segments invalid");
  }
}

// ---- the reference's other tests (§4) ----

TEST(UriGrammar, DoctestServiceAndEndpoint) {
  expectParts("sel://tenant/app.app/service:ep", "tenant", {}, "app.app", "service", "ep");
}

TEST(UriContains, ServiceScopeContainsItsEndpoint) {
  EXPECT_TRUE(parsed("sel://tenant/app.app/service")
                  .contains(parsed("sel://tenant/app.app/service:endpoint")));
}

TEST(UriContains, EqualScopeContainsItself) {
  EXPECT_TRUE(parsed("sel://a").contains(parsed("sel://a")));
  Uri full = parsed("sel://t/p/q/x.app/s:e");
  EXPECT_TRUE(full.contains(full));
}

TEST(UriContains, PathPrefix) {
  EXPECT_TRUE(parsed("sel://t/team").contains(parsed("sel://t/team/payments/orders.app/runner")));
}

TEST(UriContains, NarrowDoesNotContainBroad) {
  EXPECT_FALSE(parsed("sel://tenant/team").contains(parsed("sel://tenant")));
}

TEST(UriContains, ComponentsMustMatch) {
  Uri pattern = parsed("sel://t/app.app/svc:ep");
  EXPECT_FALSE(pattern.contains(parsed("sel://t/app.app/other:ep")));  // another service
  EXPECT_FALSE(pattern.contains(parsed("sel://t/app.app/svc")));       // no endpoint
  EXPECT_FALSE(pattern.contains(parsed("sel://t/other.app/svc:ep")));  // another application
  EXPECT_FALSE(pattern.contains(parsed("sel://u/app.app/svc:ep")));    // another tenant
}

TEST(UriContains, PatternWithoutPathIgnoresTheEntrysPath) {
  EXPECT_TRUE(parsed("sel://t/app.app").contains(parsed("sel://t/any/prefix/app.app/svc:ep")));
  EXPECT_TRUE(parsed("sel://t").contains(parsed("sel://t/x/y")));
}

TEST(UriContains, WholeSegmentsOnly) {
  EXPECT_FALSE(parsed("sel://t/app").contains(parsed("sel://t/application")));
  EXPECT_FALSE(parsed("sel://t/a/b").contains(parsed("sel://t/a/bc/d")));
  EXPECT_FALSE(parsed("sel://ten").contains(parsed("sel://tenant")));
}

TEST(UriContains, PatternPathLongerThanEntrysFails) {
  EXPECT_FALSE(parsed("sel://t/a/b/c").contains(parsed("sel://t/a/b")));
}

// ---- display and equality ----

TEST(UriDisplay, PrintsComponentsInOrder) {
  EXPECT_EQ(parsed("sel://tenant").toString(), "sel://tenant");
  EXPECT_EQ(parsed("sel://t/team/payments/orders.app/runner:rpc").toString(),
            "sel://t/team/payments/orders.app/runner:rpc");
  EXPECT_EQ(parsed("sel://t/app.app/").toString(), "sel://t/app.app");
  EXPECT_EQ(parsed("sel://t//a///b/").toString(), "sel://t/a/b");
  EXPECT_EQ(parsed("sel://t/a.app/s:e:f").toString(), "sel://t/a.app/s:e:f");
}

// Where a plain print would read back with the last segment as a service, the text keeps the
// trailing slash that made it a path or an application (the Rust Display loses it).
TEST(UriDisplay, KeepsTheTrailingSlashThatMatters) {
  EXPECT_EQ(parsed("sel://t/a.app/svc/").toString(), "sel://t/a.app/svc/");
  EXPECT_EQ(parsed("sel://t/a.app/b.app/").toString(), "sel://t/a.app/b.app/");
  for (const char* text : {"sel://t/a.app/svc/", "sel://t/a.app/b.app/", "sel://t/x.app/y.app",
                           "sel://t/p/a.app/s:e", "sel://t/a.app", "sel://t/svc:ep"}) {
    Uri uri = parsed(text);
    EXPECT_EQ(parsed(uri.toString()), uri) << text;
  }
}

TEST(UriEquality, StructuralAndAbsentPathIsNoPath) {
  EXPECT_EQ(parsed("sel://t"), parsed("sel://t/"));
  EXPECT_EQ(parsed("sel://t/a/b"), parsed("sel://t/a//b/"));
  EXPECT_FALSE(parsed("sel://t/a.app/svc") == parsed("sel://t/a.app/svc/"));
  // Components with an empty path vector equal a URI parsed without a path (the Rust Some([])).
  UriParts parts;
  parts.tenant = "t";
  parts.path = {};
  auto built = Uri::fromParts(parts);
  ASSERT_TRUE(built.ok());
  EXPECT_EQ(*built, parsed("sel://t"));
}

// ---- the WHATWG behaviour the table relies on ----

TEST(UriGrammar, SchemeIsCaseInsensitiveTenantIsNot) {
  expectParts("SEL://Tenant/Team/Orders.app/Run:Rpc", "Tenant", {"Team"}, "Orders.app", "Run",
              "Rpc");
  expectParts("SeL://T/x.APP", "T", {"x.APP"}, "", "", "");  // ".app" is case-sensitive
}

TEST(UriGrammar, DotSegmentsAreResolved) {
  expectParts("sel://t/a/./b/../c", "t", {"a", "c"}, "", "", "");
  expectParts("sel://t/../../a", "t", {"a"}, "", "", "");
  expectParts("sel://t/a/%2e/%2E%2e/b", "t", {"b"}, "", "", "");
  // A trailing dot segment leaves a trailing slash: no service.
  expectParts("sel://t/x.app/svc/.", "t", {"x.app", "svc"}, "", "", "");
  expectParts("sel://t/x.app/svc/z/..", "t", {"x.app", "svc"}, "", "", "");
  // Not dot segments: kept.
  expectParts("sel://t/.../.x/x.", "t", {"...", ".x", "x."}, "", "", "");
}

TEST(UriGrammar, PercentEncodingIsKeptAndAddedLikeTheUrlCrate) {
  expectParts("sel://t/a%20b/%41", "t", {"a%20b", "%41"}, "", "", "");
  expectParts("sel://t/{x}/\"q\"/<y>/`z`", "t", {"%7Bx%7D", "%22q%22", "%3Cy%3E", "%60z%60"}, "",
              "", "");
  expectParts("sel://caf\xc3\xa9/d\xc3\xa9j\xc3\xa0", "caf%C3%A9", {"d%C3%A9j%C3%A0"}, "", "", "");
  EXPECT_EQ(parsed("sel://t/{x}"), parsed("sel://t/%7Bx%7D"));
  // Backslash is an ordinary path character in a non-special URL.
  expectParts("sel://t/a\\b", "t", {"a\\b"}, "", "", "");
}

TEST(UriErrors, WrongScheme) {
  for (const char* text : {"http://tenant/x", "sel2://t", "se://t", "file:///x"}) {
    UriError error = failed(text);
    EXPECT_EQ(error.kind(), UriErrorKind::InvalidScheme) << text;
    EXPECT_EQ(error.summary(), "URI must use Selium scheme: \"sel://\"");
    EXPECT_NE(error.text().find(text), std::string::npos) << error.text();
  }
}

TEST(UriErrors, NotAUriAtAll) {
  for (const char* text : {"", "tenant/x", "://t", "1sel://t", "s el://t", "sel"}) {
    UriError error = failed(text);
    EXPECT_EQ(error.kind(), UriErrorKind::BadUri) << text;
    EXPECT_EQ(error.summary(), "Unable to parse string into URI");
  }
}

TEST(UriErrors, MissingTenant) {
  for (const char* text : {"sel://", "sel:///x", "sel:tenant/x", "sel:/tenant", "sel://[::1]/x"}) {
    UriError error = failed(text);
    EXPECT_EQ(error.kind(), UriErrorKind::MissingTenant) << text;
    EXPECT_EQ(error.summary(), "URI did not contain a tenant");
  }
}

// The url crate drops these silently; a directory name that ignores part of itself would make
// different texts collide, so they are refused with the reason.
TEST(UriErrors, PortUserinfoQueryFragmentAreRefused) {
  struct Case {
    const char* text;
    const char* reason;
  };
  for (Case c : {Case{"sel://t:80/x", "port"}, Case{"sel://t:/x", "port"},
                 Case{"sel://user@t/x", "user information"}, Case{"sel://u:p@t", "user"},
                 Case{"sel://t/x?q=1", "query"}, Case{"sel://t?q", "query"},
                 Case{"sel://t/x#frag", "fragment"}, Case{"sel://t#", "fragment"}}) {
    UriError error = failed(c.text);
    EXPECT_EQ(error.kind(), UriErrorKind::BadUri) << c.text;
    EXPECT_NE(error.detail().find(c.reason), std::string::npos) << error.text();
  }
}

TEST(UriErrors, ControlCharactersAndWhitespaceAreRefused) {
  for (std::string text :
       {std::string("sel://t/a b"), std::string(" sel://t"), std::string("sel://t/x\n"),
        std::string("sel://t/\tx"), std::string("sel://t\r/x"), std::string("sel://t/\x7f"),
        std::string("sel://t/a\0b", 11), std::string("sel://t\x01")}) {
    UriError error = failed(text);
    EXPECT_EQ(error.kind(), UriErrorKind::BadUri);
    EXPECT_NE(error.detail().find("at byte"), std::string::npos) << error.text();
  }
}

TEST(UriErrors, ForbiddenTenantCharacters) {
  for (const char* text :
       {"sel://a<b", "sel://a>b", "sel://a\\b", "sel://a]b", "sel://a^b", "sel://a|b"}) {
    EXPECT_EQ(failed(text).kind(), UriErrorKind::BadUri) << text;
  }
}

TEST(UriErrors, InvalidUtf8) {
  for (std::string text :
       {std::string("sel://t/\xff"), std::string("sel://t/\xc3"), std::string("sel://\xc0\xaf"),
        std::string("sel://t/\xed\xa0\x80"), std::string("sel://t/\xf4\x90\x80\x80")}) {
    UriError error = failed(text);
    EXPECT_EQ(error.kind(), UriErrorKind::BadUri);
    EXPECT_NE(error.detail().find("UTF-8"), std::string::npos) << error.text();
  }
}

TEST(UriErrors, MessagesQuoteTheInputSafely) {
  UriError error = failed(std::string("sel://t/\x01\"x"));
  EXPECT_NE(error.text().find("\\x01\\x22x"), std::string::npos) << error.text();
  std::string long_text = "http://" + std::string(1000, 'a');
  std::string message = failed(long_text).text();
  EXPECT_LT(message.size(), 400u);
  EXPECT_NE(message.find("\"..."), std::string::npos);
}

// ---- limits ----

TEST(UriLimits, LengthIsBounded) {
  std::string text = "sel://t/" + std::string(Uri::kMaxBytes - 8, 'a');
  ASSERT_EQ(text.size(), Uri::kMaxBytes);
  EXPECT_TRUE(Uri::parse(text).ok());
  UriError error = failed(text + "a");
  EXPECT_EQ(error.kind(), UriErrorKind::BadUri);
  EXPECT_NE(error.detail().find("4097 bytes"), std::string::npos) << error.text();
}

TEST(UriLimits, SegmentCountIsBounded) {
  std::string text = "sel://t";
  for (std::size_t i = 0; i < Uri::kMaxSegments; ++i) text += "/s";
  EXPECT_EQ(parsed(text).path().size(), Uri::kMaxSegments);
  UriError error = failed(text + "/s");
  EXPECT_EQ(error.kind(), UriErrorKind::InvalidPath);
  EXPECT_NE(error.detail().find("65 segments"), std::string::npos) << error.text();
  // Empty segments and resolved dot segments do not count.
  EXPECT_TRUE(Uri::parse(text + "//./a/..").ok());
}

TEST(UriLimits, HostileShapesParseQuicklyAndSafely) {
  EXPECT_TRUE(Uri::parse("sel://t" + std::string(4000, '/')).ok());
  expectParts("sel://t/" + std::string(3000, '%'), "t", {std::string(3000, '%')}, "", "", "");
  std::string dots = "sel://t";
  for (int i = 0; i < 1000; ++i) dots += "/..";
  expectParts(dots, "t", {}, "", "", "");
  EXPECT_EQ(failed("sel://" + std::string(4000, ':')).kind(), UriErrorKind::BadUri);
}

// ---- building from parts (what arrives on the wire) ----

TEST(UriFromParts, AcceptsCanonicalComponents) {
  UriParts parts{"t", {"team", "payments"}, "orders.app", "runner", "rpc"};
  auto uri = Uri::fromParts(parts);
  ASSERT_TRUE(uri.ok()) << uri.error().text();
  EXPECT_EQ(*uri, parsed("sel://t/team/payments/orders.app/runner:rpc"));
}

TEST(UriFromParts, RefusesWhatTextCouldNotSay) {
  std::vector<UriParts> bad = {
      {"", {}, "", "", ""},                // no tenant
      {"t", {"a/b"}, "", "", ""},          // a slash inside a segment
      {"t", {""}, "", "", ""},             // an empty segment
      {"t", {".."}, "", "", ""},           // a dot segment
      {"t", {}, "noapp", "", ""},          // an application without ".app"
      {"t", {}, "", "svc", ""},            // a service without an application
      {"t", {}, "a.app", "", "ep"},        // an endpoint without a service
      {"t", {}, "a.app", "s:x", ""},       // a colon in the service
      {"t", {"x.app"}, "", "", ""},        // reads back as an application
      {"t", {"a b"}, "", "", ""},          // whitespace
      {"t", {"caf\xc3\xa9"}, "", "", ""},  // not percent-encoded: reads back differently
      {"t:80", {}, "", "", ""},            // a port
      {"t/x", {}, "", "", ""},             // a slash in the tenant
  };
  for (const UriParts& parts : bad) {
    auto uri = Uri::fromParts(parts);
    EXPECT_FALSE(uri.ok()) << "tenant " << parts.tenant << " path "
                           << (parts.path.empty() ? "" : parts.path[0]) << " app "
                           << parts.application << " service " << parts.service;
  }
}

}  // namespace
}  // namespace selium
