// End-to-end tests of the network examples (examples/http_json, examples/https_mtls,
// examples/load_balancer): the real selium-runtime serves each from a temporary work dir on a
// port the system picks (the example logs it in its "listening" record), and curl talks to it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "runtime_fixture.h"

namespace selium::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Generous: a loaded machine may be slow to run processes. Nothing here measures time.
constexpr auto kCurlWait = 60s;  // curl's own --max-time is 30 s

constexpr std::string_view kHttpCaps =
    "capabilities=NetHttpBind,NetHttpAccept,NetHttpRead,NetHttpWrite";
constexpr std::string_view kMtlsCaps =
    "capabilities=NetTlsServerConfig,NetHttpsBind,NetHttpsAccept,NetHttpsRead,NetHttpsWrite";
constexpr std::string_view kBalancerCaps =
    "capabilities=NetHttpBind,NetHttpAccept,NetHttpRead,NetHttpWrite,ChannelLifecycle,"
    "ChannelReader,ChannelWriter,ProcessLifecycle";

// Subprocess execs a path, not a name: find curl on PATH.
std::string findProgram(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return std::string(name);
}

void writeFile(const fs::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string randomBytes(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// What one curl run got.
struct HttpAnswer {
  int curl_exit = -1;
  int status = 0;  // 0: no HTTP answer at all
  std::string body;
  std::string head;  // status line and header lines as received
  std::string err;

  // The value of the first header `name` (lower-case) in the head.
  std::optional<std::string> header(std::string_view name) const {
    std::size_t start = 0;
    while (start < head.size()) {
      std::size_t end = head.find("\r\n", start);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(start, end - start);
      std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string key = line.substr(0, colon);
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (key == name) {
          std::size_t value = line.find_first_not_of(" \t", colon + 1);
          return value == std::string::npos ? "" : line.substr(value);
        }
      }
      start = end + 2;
    }
    return std::nullopt;
  }
};

std::ostream& operator<<(std::ostream& os, const HttpAnswer& a) {
  return os << "curl exit " << a.curl_exit << ", status " << a.status << ", body \"" << a.body
            << "\", stderr \"" << a.err << "\"";
}

// A curl started and not yet waited for (several run at once).
class CurlRun {
 public:
  CurlRun(std::vector<std::string> argv, fs::path body, fs::path head)
      : process_(SubprocessOptions{std::move(argv), {}, {}}),
        body_(std::move(body)),
        head_(std::move(head)) {}

  HttpAnswer finish() {
    SubprocessResult result = process_.wait(kCurlWait);
    HttpAnswer answer;
    answer.curl_exit = result.exit_code;
    answer.err = result.err;
    answer.status = std::atoi(result.out.c_str());
    answer.body = readFile(body_);
    answer.head = readFile(head_);
    return answer;
  }

 private:
  Subprocess process_;
  fs::path body_;
  fs::path head_;
};

class NetExamplesE2E : public RuntimeTest {
 protected:
  NetExamplesE2E() : RuntimeTest("e2e-net-examples") {}
  void SetUp() override { fs::create_directories(temp_.path() / "curl"); }

  std::unique_ptr<RuntimeProcess> start(const std::string& spec) {
    return startRuntime({.modules = {spec}, .workers = 4});
  }

  std::unique_ptr<CurlRun> startCurl(const std::vector<std::string>& args) {
    const std::string n = std::to_string(curls_++);
    fs::path body = temp_.path() / "curl" / (n + ".body");
    fs::path head = temp_.path() / "curl" / (n + ".head");
    std::vector<std::string> argv = {curl_,         "-sS", "--max-time",  "30", "-o",
                                     body.string(), "-D",  head.string(), "-w", "%{http_code}"};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<CurlRun>(std::move(argv), body, head);
  }

  HttpAnswer curl(const std::vector<std::string>& args) { return startCurl(args)->finish(); }

  static std::string url(uint16_t port, std::string_view path) {
    return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
  }

  fs::path file(const std::string& name, std::string_view bytes) {
    fs::path path = temp_.path() / name;
    writeFile(path, bytes);
    return path;
  }

  std::string curl_ = findProgram("curl");
  int curls_ = 0;
};

// ---- http_json ----

std::string httpJsonSpec() {
  return "path=http_json.wasm;entrypoint=serve;" + std::string(kHttpCaps) +
         ";params=utf8,u16;args=127.0.0.1,0";
}

class HttpJsonE2E : public NetExamplesE2E {
 protected:
  void SetUp() override {
    NetExamplesE2E::SetUp();
    addModule("http_json.wasm");
    runtime_ = start(httpJsonSpec());
    port_ = runtime_->waitListening();
    ASSERT_NE(port_, 0);
  }

  HttpAnswer get(std::string_view path) { return curl({url(port_, path)}); }
  HttpAnswer post(std::string_view body, std::string content_type = "application/json") {
    return curl({"-H", "content-type: " + content_type, "--data-binary",
                 "@" + file("post-" + std::to_string(curls_), body).string(),
                 url(port_, "/items")});
  }
  HttpAnswer method(std::string_view verb, std::string_view path) {
    return curl({"-X", std::string(verb), url(port_, path)});
  }

  // Checks a 400 answer with the error `message`.
  void expectBadRequest(std::string_view body, std::string_view message) {
    HttpAnswer a = post(body);
    EXPECT_EQ(a.status, 400) << "for body " << body << ": " << a;
    EXPECT_EQ(a.body, "{\"error\":" + std::string(message) + "}\n") << "for body " << body;
  }

  std::unique_ptr<RuntimeProcess> runtime_;
  uint16_t port_ = 0;
};

TEST_F(HttpJsonE2E, CreatesListsReadsAndDeletesItems) {
  HttpAnswer empty = get("/items");
  EXPECT_EQ(empty.status, 200) << empty;
  EXPECT_EQ(empty.body, "[]\n");
  EXPECT_EQ(empty.header("content-type"), "application/json");

  HttpAnswer milk = post(R"({"title":"milk"})");
  EXPECT_EQ(milk.status, 201) << milk;
  EXPECT_EQ(milk.body, "{\"id\":1,\"title\":\"milk\",\"done\":false}\n");
  EXPECT_EQ(milk.header("location"), "/items/1");

  // Escapes in, escapes out: quotes, backslashes and control characters escaped again; \u
  // escapes (a surrogate pair included) become UTF-8. A charset parameter is fine.
  HttpAnswer odd = post(
      R"( { "done" : true , "title" : "a \"quote\", a back\\slash, a tab\t, \u00e9 and \ud83d\ude00\u0001" } )",
      "Application/JSON; charset=utf-8");
  EXPECT_EQ(odd.status, 201) << odd;
  const std::string odd_json =
      "{\"id\":2,\"title\":\"a \\\"quote\\\", a back\\\\slash, a tab\\t, \xc3\xa9 and "
      "\xf0\x9f\x98\x80\\u0001\",\"done\":true}";
  EXPECT_EQ(odd.body, odd_json + "\n");

  HttpAnswer one = get("/items/1");
  EXPECT_EQ(one.status, 200) << one;
  EXPECT_EQ(one.body, "{\"id\":1,\"title\":\"milk\",\"done\":false}\n");
  HttpAnswer two = get("/items/2?verbose=1");  // the query is not part of the path
  EXPECT_EQ(two.status, 200) << two;
  EXPECT_EQ(two.body, odd_json + "\n");

  HttpAnswer list = get("/items");
  EXPECT_EQ(list.status, 200) << list;
  EXPECT_EQ(list.body, "[{\"id\":1,\"title\":\"milk\",\"done\":false}," + odd_json + "]\n");

  HttpAnswer deleted = method("DELETE", "/items/1");
  EXPECT_EQ(deleted.status, 204) << deleted;
  EXPECT_EQ(deleted.body, "");

  HttpAnswer gone = get("/items/1");
  EXPECT_EQ(gone.status, 404) << gone;
  EXPECT_EQ(gone.body, "{\"error\":\"no item with id 1\"}\n");
  HttpAnswer deleted_again = method("DELETE", "/items/1");
  EXPECT_EQ(deleted_again.status, 404) << deleted_again;
  EXPECT_EQ(deleted_again.body, "{\"error\":\"no item with id 1\"}\n");

  // Ids are never reused.
  HttpAnswer bread = post(R"({"title":"bread","done":false})");
  EXPECT_EQ(bread.status, 201) << bread;
  EXPECT_EQ(bread.body, "{\"id\":3,\"title\":\"bread\",\"done\":false}\n");
  HttpAnswer after = get("/items");
  EXPECT_EQ(after.body, "[" + odd_json + ",{\"id\":3,\"title\":\"bread\",\"done\":false}]\n");

  // HEAD: the GET's head, no body (curl -I writes the head where the body would go).
  HttpAnswer head = curl({"-I", url(port_, "/items")});
  EXPECT_EQ(head.status, 200) << head;
  EXPECT_EQ(head.header("content-length"), std::to_string(after.body.size()));
  EXPECT_EQ(head.body, head.head);
}

TEST_F(HttpJsonE2E, RejectsBadJsonWith400) {
  expectBadRequest(R"({"title": "x",})", R"("invalid JSON at byte 14: expected a string key")");
  expectBadRequest("[1]",
                   R"j("invalid JSON at byte 0: expected '{' (the body must be a JSON object)")j");
  expectBadRequest(
      "",
      R"("invalid JSON at byte 0: expected '{' (the body must be a JSON object), found the end")");
  expectBadRequest(R"({"title":"a"} x)",
                   R"("invalid JSON at byte 14: expected the end of the body")");
  expectBadRequest(
      R"({"title":"a)",
      R"("invalid JSON at byte 11: expected '\"' to close the string, found the end")");
  expectBadRequest(R"({"title":tru})", R"("invalid JSON at byte 9: expected true")");
  expectBadRequest(R"({"title":01})", R"("invalid JSON at byte 10: expected ',' or '}'")");
  expectBadRequest(
      R"({"title":"\x"})",
      R"("invalid JSON at byte 11: expected an escape (one of \"\\/bfnrtu) after '\\'")");
  expectBadRequest("{\"title\":\"\xff\"}", R"("invalid JSON at byte 10: not valid UTF-8")");
  expectBadRequest("{\"title\":\"\xc0\xaf\"}", R"("invalid JSON at byte 10: not valid UTF-8")");
  expectBadRequest("{\"title\":\"\xed\xa0\x80\"}", R"("invalid JSON at byte 10: not valid UTF-8")");
  expectBadRequest(
      "{\"title\":\"a\tb\"}",
      R"j("invalid JSON at byte 11: a control character in a string (it must be escaped)")j");
  expectBadRequest(R"({"title":"\udc00"})",
                   R"("invalid JSON at byte 10: a low surrogate without a high one before it")");
  expectBadRequest(R"({"title":"\ud83d!"})",
                   R"("invalid JSON at byte 16: expected \\u and a low surrogate")");
  // Nesting is bounded: the 32nd level is refused, wherever it is.
  const std::string deep =
      R"({"title":"a","x":)" + std::string(40, '[') + std::string(40, ']') + "}";
  expectBadRequest(deep, "\"invalid JSON at byte " + std::to_string(17 + 31) +
                             ": arrays and objects nested deeper than 32 levels\"");

  // Valid JSON that is not an item.
  expectBadRequest(R"({"title": 5})", R"("\"title\" must be a string, not a number")");
  expectBadRequest(R"({"title":"a","done":"yes"})",
                   R"("\"done\" must be a boolean, not a string")");
  expectBadRequest(R"({"title":"a","title":"b"})", R"("key \"title\" appears twice")");
  expectBadRequest(R"({"done":true})", R"("missing field \"title\"")");
  expectBadRequest(R"({"title":""})", R"("\"title\" must not be empty")");
  expectBadRequest(R"({"title":"a","colour":{"deep":[1,-2.5e3,null]}})",
                   R"j("unknown field \"colour\" (an item has \"title\" and \"done\")")j");
  expectBadRequest("{\"title\":\"" + std::string(257, 'x') + "\"}",
                   R"("\"title\" is longer than 256 bytes")");

  // Nothing bad was stored.
  HttpAnswer list = get("/items");
  EXPECT_EQ(list.body, "[]\n");
}

TEST_F(HttpJsonE2E, AnswersUnknownPathsWrongMethodsAndOtherBodies) {
  for (std::string_view path : {"/nope", "/items/", "/items/abc", "/items/01", "/items/-1",
                                "/items/99999999999999999999", "/items/1/more"}) {
    HttpAnswer a = get(path);
    EXPECT_EQ(a.status, 404) << path << ": " << a;
    EXPECT_EQ(a.body, "{\"error\":\"not found: the resources are /items and /items/{id}\"}\n")
        << path;
  }
  HttpAnswer unknown_id = get("/items/7");
  EXPECT_EQ(unknown_id.status, 404) << unknown_id;
  EXPECT_EQ(unknown_id.body, "{\"error\":\"no item with id 7\"}\n");

  HttpAnswer put = method("PUT", "/items");
  EXPECT_EQ(put.status, 405) << put;
  EXPECT_EQ(put.header("allow"), "GET, HEAD, POST");
  EXPECT_EQ(put.body, "{\"error\":\"use GET or POST on /items\"}\n");
  HttpAnswer patch = method("PATCH", "/items/1");
  EXPECT_EQ(patch.status, 405) << patch;
  EXPECT_EQ(patch.header("allow"), "GET, HEAD, DELETE");
  EXPECT_EQ(patch.body, "{\"error\":\"use GET or DELETE on /items/{id}\"}\n");
  HttpAnswer post_item = curl({"-H", "content-type: application/json", "--data-binary",
                               R"({"title":"a"})", url(port_, "/items/1")});
  EXPECT_EQ(post_item.status, 405) << post_item;

  // curl's default for --data is a form.
  HttpAnswer form = curl({"--data-binary", R"({"title":"a"})", url(port_, "/items")});
  EXPECT_EQ(form.status, 415) << form;
  EXPECT_EQ(form.body, "{\"error\":\"the body must be application/json\"}\n");

  // Over 16 KiB, declared or streamed.
  const std::string big = "{\"title\":\"" + std::string(17 * 1024, 'x') + "\"}";
  HttpAnswer declared = post(big);
  EXPECT_EQ(declared.status, 413) << declared;
  EXPECT_EQ(declared.body, "{\"error\":\"the body is larger than 16384 bytes\"}\n");
  HttpAnswer chunked =
      curl({"-H", "content-type: application/json", "-H", "transfer-encoding: chunked",
            "--data-binary", "@" + file("big.json", big).string(), url(port_, "/items")});
  EXPECT_EQ(chunked.status, 413) << chunked;
  EXPECT_EQ(chunked.body, "{\"error\":\"the body is larger than 16384 bytes\"}\n");

  // A body just under the limit is fine (the title limit is what refuses it).
  HttpAnswer fits = post("{\"title\":\"ok\"" + std::string(16000, ' ') + "}");
  EXPECT_EQ(fits.status, 201) << fits;

  HttpAnswer list = get("/items");
  EXPECT_EQ(list.body, "[{\"id\":1,\"title\":\"ok\",\"done\":false}]\n");
}

TEST_F(HttpJsonE2E, RefusesItemsPastItsBoundUntilSomeAreDeleted) {
  // 1,000 items through one curl (a config file of 1,000 transfers on one connection), each
  // with the longest title, of characters that take 6 bytes each once escaped: the list is
  // then larger than a whole-body answer may be (1 MiB), and must still come whole.
  std::string title_in, title_out;
  for (int i = 0; i < 256; ++i) {
    title_in += "\\\\u0001";  // \\u0001 in the config file: \u0001 in the body
    title_out += "\\u0001";
  }
  std::string config;
  for (int i = 0; i < 1000; ++i) {
    config += "url = \"" + url(port_, "/items") + "\"\n";
    config += "header = \"content-type: application/json\"\n";
    config += "data-binary = \"{\\\"title\\\":\\\"" + title_in + "\\\"}\"\n";
    config += "output = \"/dev/null\"\n";
    config += "write-out = \"%{http_code}\\n\"\n";
    if (i != 999) config += "next\n";
  }
  SubprocessResult fill = runProcess(
      SubprocessOptions{
          {curl_, "-sS", "--max-time", "120", "-K", file("fill.curlrc", config).string()}, {}, {}},
      180s);
  ASSERT_EQ(fill.exit_code, 0) << fill.err;
  std::vector<std::string> codes = fill.outLines();
  ASSERT_EQ(codes.size(), 1000u);
  for (const std::string& code : codes) ASSERT_EQ(code, "201");

  std::string expected = "[";
  for (int id = 1; id <= 1000; ++id) {
    if (id > 1) expected += ",";
    expected +=
        "{\"id\":" + std::to_string(id) + ",\"title\":\"" + title_out + "\",\"done\":false}";
  }
  expected += "]\n";
  ASSERT_GT(expected.size(), 1u << 20);
  HttpAnswer list = get("/items");
  EXPECT_EQ(list.status, 200) << list.err;
  EXPECT_EQ(list.header("content-length"), std::to_string(expected.size()));
  EXPECT_TRUE(list.body == expected) << "the list differs; " << list.body.size() << " bytes";

  HttpAnswer full = post(R"({"title":"one too many"})");
  EXPECT_EQ(full.status, 507) << full;
  EXPECT_EQ(full.body, "{\"error\":\"the list is full (1000 items); delete some first\"}\n");

  HttpAnswer deleted = method("DELETE", "/items/500");
  EXPECT_EQ(deleted.status, 204) << deleted;
  HttpAnswer again = post(R"({"title":"room again"})");
  EXPECT_EQ(again.status, 201) << again;
  EXPECT_EQ(again.body, "{\"id\":1001,\"title\":\"room again\",\"done\":false}\n");
  HttpAnswer still_full = post(R"({"title":"full again"})");
  EXPECT_EQ(still_full.status, 507) << still_full;
}

// ---- https_mtls ----

class HttpsMtlsE2E : public NetExamplesE2E {
 protected:
  void SetUp() override {
    NetExamplesE2E::SetUp();
    addModule("https_mtls.wasm");
    certs_ = work_ / "certs";
    generateCerts(certs_);
  }

  std::string spec(const fs::path& cert, const fs::path& key, const fs::path& ca) {
    return "path=https_mtls.wasm;entrypoint=serve;" + std::string(kMtlsCaps) +
           ";args=utf8:127.0.0.1,u16:0,hex:" + hexOf(readFile(cert)) +
           ",hex:" + hexOf(readFile(key)) + ",hex:" + hexOf(readFile(ca));
  }

  HttpAnswer https(uint16_t port, std::vector<std::string> args) {
    const std::string p = std::to_string(port);
    args.insert(args.end(), {"--resolve", "localhost:" + p + ":127.0.0.1", "--cacert",
                             (certs_ / "ca.crt").string(), "https://localhost:" + p + "/"});
    return curl(args);
  }

  fs::path certs_;
};

TEST_F(HttpsMtlsE2E, AnswersOnlyClientsWithACertificateFromItsCa) {
  auto runtime = start(spec(certs_ / "server.crt", certs_ / "server.key", certs_ / "ca.crt"));
  uint16_t port = runtime->waitListening();
  ASSERT_NE(port, 0);
  const std::vector<std::string> client = {"--cert", (certs_ / "client.crt").string(), "--key",
                                           (certs_ / "client.key").string()};

  for (std::string_view version : {"--http1.1", "--http2"}) {
    std::vector<std::string> args = client;
    args.emplace_back(version);
    HttpAnswer a = https(port, args);
    EXPECT_EQ(a.curl_exit, 0) << version << ": " << a;
    EXPECT_EQ(a.status, 200) << version << ": " << a;
    EXPECT_EQ(a.body, "hello client\n") << version;
  }

  // No client certificate: the handshake is refused, no HTTP answer.
  HttpAnswer anonymous = https(port, {});
  EXPECT_NE(anonymous.curl_exit, 0) << anonymous;
  EXPECT_EQ(anonymous.status, 0) << anonymous;
  EXPECT_EQ(anonymous.body, "");

  // A client certificate from another CA: refused too.
  fs::path other = temp_.path() / "other-certs";
  generateCerts(other);
  HttpAnswer stranger = https(
      port, {"--cert", (other / "client.crt").string(), "--key", (other / "client.key").string()});
  EXPECT_NE(stranger.curl_exit, 0) << stranger;
  EXPECT_EQ(stranger.status, 0) << stranger;

  // Plain HTTP on the TLS port gets no HTTP answer either.
  HttpAnswer plain = curl({url(port, "/")});
  EXPECT_NE(plain.status, 200) << plain;

  // The refusals did not hurt the service.
  HttpAnswer again = https(port, client);
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.body, "hello client\n");
}

TEST_F(HttpsMtlsE2E, RefusesAKeyThatDoesNotMatchItsCertificate) {
  fs::path other = temp_.path() / "other-certs";
  generateCerts(other);
  auto runtime = start(spec(certs_ / "server.crt", other / "server.key", certs_ / "ca.crt"));
  json refused = runtime->waitForGuest("TLS configuration refused");
  ASSERT_FALSE(refused.is_null()) << runtime->stop().out;
  EXPECT_EQ(refused["error"], "InvalidArgument");
  EXPECT_FALSE(refused.value("detail", "").empty());
  json exited = runtime->waitForRecord("process exited");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["status"], 1);
  EXPECT_TRUE(runtime->waitForGuest("listening", {}, 0ms).is_null());
}

// ---- load_balancer ----

std::string balancerSpec(std::string_view entrypoint, uint32_t workers,
                         std::optional<uint32_t> crash_at = std::nullopt) {
  std::string spec = "path=load_balancer.wasm;entrypoint=" + std::string(entrypoint) + ";" +
                     std::string(kBalancerCaps) +
                     ";args=utf8:127.0.0.1,u16:0,u32:" + std::to_string(workers);
  if (crash_at) spec += ",u32:" + std::to_string(*crash_at);
  return spec;
}

// "worker {index}: {method} {path}\n" at the start of `body`: the index, or -1.
int workerOf(const std::string& body, std::string_view method, std::string_view path) {
  std::smatch m;
  static const std::regex kLine("^worker ([0-9]+): ([A-Z]+) ([^\n]*)\n");
  if (!std::regex_search(body, m, kLine) || m[2] != std::string(method) ||
      m[3] != std::string(path)) {
    return -1;
  }
  return std::stoi(m[1]);
}

class LoadBalancerE2E : public NetExamplesE2E {
 protected:
  void SetUp() override {
    NetExamplesE2E::SetUp();
    addModule("load_balancer.wasm");
  }
};

TEST_F(LoadBalancerE2E, SpreadsRequestsOverItsWorkers) {
  auto runtime = start(balancerSpec("balance", 3));
  uint16_t port = runtime->waitListening();
  ASSERT_NE(port, 0);

  std::set<int> workers_seen;
  int answered = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<CurlRun>> runs;
    for (int i = 0; i < 10; ++i) {
      runs.push_back(startCurl({url(port, "/r" + std::to_string(round * 10 + i))}));
    }
    for (int i = 0; i < 10; ++i) {
      HttpAnswer a = runs[static_cast<std::size_t>(i)]->finish();
      const std::string path = "/r" + std::to_string(round * 10 + i);
      EXPECT_EQ(a.status, 200) << path << ": " << a;
      int worker = workerOf(a.body, "GET", path);
      EXPECT_GE(worker, 0) << "unexpected answer to " << path << ": " << a.body;
      EXPECT_LT(worker, 3) << a.body;
      EXPECT_EQ(a.body.size(), ("worker 0: GET " + path + "\n").size()) << a.body;
      if (a.status == 200 && worker >= 0) {
        ++answered;
        workers_seen.insert(worker);
      }
    }
  }
  EXPECT_EQ(answered, 30);
  EXPECT_GT(workers_seen.size(), 1u) << "every request went to one worker";
  EXPECT_TRUE(runtime->waitForGuest("worker ended", {}, 0ms).is_null());
}

TEST_F(LoadBalancerE2E, EchoesRequestBodiesByteForByte) {
  auto runtime = start(balancerSpec("balance", 3));
  uint16_t port = runtime->waitListening();
  ASSERT_NE(port, 0);

  const std::string body = randomBytes(300 * 1024 + 7, 7);
  fs::path body_file = file("body.bin", body);
  HttpAnswer declared = curl({"-H", "content-type: application/octet-stream", "--data-binary",
                              "@" + body_file.string(), url(port, "/echo")});
  EXPECT_EQ(declared.status, 200) << declared.err;
  int worker = workerOf(declared.body, "POST", "/echo");
  ASSERT_GE(worker, 0) << declared.body.substr(0, 40);
  EXPECT_EQ(declared.body, "worker " + std::to_string(worker) + ": POST /echo\n" + body);
  EXPECT_EQ(declared.header("content-length"),
            std::to_string(("worker 0: POST /echo\n" + body).size()));

  // Chunked: no declared length, so the answer is streamed too.
  HttpAnswer chunked =
      curl({"-H", "content-type: application/octet-stream", "-H", "transfer-encoding: chunked",
            "--data-binary", "@" + body_file.string(), url(port, "/chunked")});
  EXPECT_EQ(chunked.status, 200) << chunked.err;
  worker = workerOf(chunked.body, "POST", "/chunked");
  ASSERT_GE(worker, 0) << chunked.body.substr(0, 40);
  EXPECT_EQ(chunked.body, "worker " + std::to_string(worker) + ": POST /chunked\n" + body);

  // An empty body.
  HttpAnswer empty = curl({"--data-binary", "", url(port, "/empty")});
  EXPECT_EQ(empty.status, 200) << empty;
  worker = workerOf(empty.body, "POST", "/empty");
  EXPECT_EQ(empty.body, "worker " + std::to_string(worker) + ": POST /empty\n");
}

TEST_F(LoadBalancerE2E, KeepsServingWithTheOtherWorkersWhenOneDies) {
  // Worker 0 traps on the first request it takes.
  auto runtime = start(balancerSpec("balance_crashing", 3, 1));
  uint16_t port = runtime->waitListening();
  ASSERT_NE(port, 0);

  // Requests one at a time until one reaches worker 0: that client gets the host's 500.
  bool crashed = false;
  for (int i = 0; i < 200 && !crashed; ++i) {
    const std::string path = "/before" + std::to_string(i);
    HttpAnswer a = curl({url(port, path)});
    if (a.status == 500) {
      crashed = true;
    } else {
      ASSERT_EQ(a.status, 200) << a;
      int worker = workerOf(a.body, "GET", path);
      EXPECT_TRUE(worker == 1 || worker == 2) << a.body;
    }
  }
  ASSERT_TRUE(crashed) << "no request reached worker 0 in 200";
  json ended = runtime->waitForGuest("worker ended");
  ASSERT_FALSE(ended.is_null());
  EXPECT_EQ(ended["index"], 0);
  EXPECT_EQ(ended["reason"], "trap");
  EXPECT_FALSE(runtime->waitForGuest("crashing as asked").is_null());

  // Every later request is answered by the two that are left.
  for (int i = 0; i < 20; ++i) {
    const std::string path = "/after" + std::to_string(i);
    HttpAnswer a = curl({url(port, path)});
    EXPECT_EQ(a.status, 200) << a;
    int worker = workerOf(a.body, "GET", path);
    EXPECT_TRUE(worker == 1 || worker == 2) << a.body;
  }
  EXPECT_TRUE(runtime->waitForGuest("every worker has ended; answering 503 from now on", {}, 0ms)
                  .is_null());
}

TEST_F(LoadBalancerE2E, Answers503ItselfOnceEveryWorkerIsGone) {
  auto runtime = start(balancerSpec("balance_crashing", 1, 1));
  uint16_t port = runtime->waitListening();
  ASSERT_NE(port, 0);

  HttpAnswer crash = curl({url(port, "/first")});
  EXPECT_EQ(crash.status, 500) << crash;
  ASSERT_FALSE(
      runtime->waitForGuest("every worker has ended; answering 503 from now on").is_null());

  for (int i = 0; i < 3; ++i) {
    HttpAnswer a = curl({url(port, "/later")});
    EXPECT_EQ(a.status, 503) << a;
    EXPECT_EQ(a.body, "no worker is available\n");
    EXPECT_EQ(a.header("retry-after"), "1");
  }
}

TEST_F(LoadBalancerE2E, RefusesZeroWorkers) {
  auto runtime = start(balancerSpec("balance", 0));
  json refused = runtime->waitForGuest("a balancer needs at least one worker");
  ASSERT_FALSE(refused.is_null()) << runtime->stop().out;
  json exited = runtime->waitForRecord("process exited");
  ASSERT_FALSE(exited.is_null());
  EXPECT_EQ(exited["status"], 1);
}

}  // namespace
}  // namespace selium::testing
