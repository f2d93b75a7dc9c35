// Request/reply through the Switchboard: a Server<EchoRequest, EchoReply> answers many
// Client<EchoRequest, EchoReply>s found by name. No singleton, no reply channel and no routing
// by hand: the Switchboard wires each client to the server of its name, and every client gets
// its own replies only.
//
//   serve(utf8 service)                  registers the server of `service` and answers every
//                                        request with its text upper-cased; runs until stopped.
//   client(utf8 service, u32 id, u32 count)
//                                        sends `count` requests, kInFlight at a time, and checks
//                                        each reply is its own (client, seq, text). Status 0 if
//                                        all were, 2 on a wrong reply, 1 on any other failure.
//   demo(u32 clients, u32 count)         starts a server and `clients` clients as child processes
//                                        under a service name of its own, waits for every client,
//                                        stops the server. Status 0 when all succeeded.
//
// Every process needs the Switchboard (selium_switchboard_server.wasm) running in the runtime.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <selium/selium.hpp>
#include <selium/switchboard.hpp>

#include "../common/flatbuffers_codec.hpp"
#include "../common/switchboard_children.hpp"
#include "echo_generated.h"

namespace {

namespace fb = selium::examples::echo;
using selium::switchboard::Failure;

constexpr selium::log::Logger kLog{"examples.sb_request_reply"};
constexpr std::string_view kModule = "sb_request_reply.wasm";
// Requests each client keeps in flight at once: replies may come back in any order.
constexpr uint32_t kInFlight = 4;
// Requests the server answers before it yields its worker thread: under a steady stream of
// requests recv() never waits, and the loop would hold the thread for as long as the stream lasts.
constexpr uint64_t kRequestsPerYield = 64;

std::string textOf(const flatbuffers::String* text) { return text ? text->str() : std::string(); }

// The message types: each names its FlatBuffers table (its schema id derives from that name) and
// codes itself, as selium::MessageTraits expects.
struct EchoRequest {
  static constexpr std::string_view kSchemaName = "selium.examples.echo.EchoRequest";
  uint32_t client = 0;
  uint32_t seq = 0;
  std::string text;

  static std::vector<uint8_t> encode(const EchoRequest& r) {
    flatbuffers::FlatBufferBuilder builder(64 + r.text.size());
    builder.Finish(fb::CreateEchoRequestDirect(builder, r.client, r.seq, r.text.c_str()));
    return examples::bytesOf(builder);
  }
  static std::optional<EchoRequest> decode(std::span<const uint8_t> bytes) {
    const auto* r = examples::verifiedRoot<fb::EchoRequest>(bytes);
    if (r == nullptr) return std::nullopt;
    return EchoRequest{r->client(), r->seq(), textOf(r->text())};
  }
};

struct EchoReply {
  static constexpr std::string_view kSchemaName = "selium.examples.echo.EchoReply";
  uint32_t client = 0;
  uint32_t seq = 0;
  std::string text;
  uint64_t served = 0;

  static std::vector<uint8_t> encode(const EchoReply& r) {
    flatbuffers::FlatBufferBuilder builder(64 + r.text.size());
    builder.Finish(fb::CreateEchoReplyDirect(builder, r.client, r.seq, r.text.c_str(), r.served));
    return examples::bytesOf(builder);
  }
  static std::optional<EchoReply> decode(std::span<const uint8_t> bytes) {
    const auto* r = examples::verifiedRoot<fb::EchoReply>(bytes);
    if (r == nullptr) return std::nullopt;
    return EchoReply{r->client(), r->seq(), textOf(r->text()), r->served()};
  }
};

using EchoServer = selium::Server<EchoRequest, EchoReply>;
using EchoClient = selium::Client<EchoRequest, EchoReply>;

int32_t failed(std::string_view what, const Failure& failure) {
  return examples::logFailure(kLog, what, failure);
}
int32_t failed(std::string_view what, selium::Error error) {
  return examples::logFailure(kLog, what, error);
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string textFor(uint32_t client, uint32_t seq) {
  return "client " + selium::switchboard::detail::decimal(client) + " request " +
         selium::switchboard::detail::decimal(seq);
}

// ---- client ----

// What a client's tasks share: the next request to send and how the replies turned out.
struct Calls {
  uint32_t next = 0;
  uint32_t count = 0;
  uint64_t ok = 0;
  uint64_t wrong = 0;
  uint64_t failed = 0;
};

// One of the client's kInFlight tasks: takes the next request number until none is left. Stops at
// the first failed request (the server went away, ...): the others would most likely fail too.
selium::Task<void> caller(EchoClient& client, uint32_t id, Calls& calls) {
  while (calls.next < calls.count) {
    uint32_t seq = calls.next++;
    EchoRequest request{id, seq, textFor(id, seq)};
    auto reply = co_await client.request(request);
    if (!reply) {
      ++calls.failed;
      kLog.error("request failed",
                 {{"client", id}, {"seq", seq}, {"error", reply.error().message}});
      co_return;
    }
    if (reply->client != id || reply->seq != seq || reply->text != upper(request.text)) {
      ++calls.wrong;
      kLog.error("wrong reply", {{"client", id},
                                 {"seq", seq},
                                 {"got_client", reply->client},
                                 {"got_seq", reply->seq},
                                 {"got_text", reply->text}});
      continue;
    }
    ++calls.ok;
  }
}

// ---- demo ----

selium::Task<void> awaitClients(std::vector<selium::ChildProcess>& clients, uint32_t& succeeded) {
  for (std::size_t id = 0; id < clients.size(); ++id) {
    selium::Exit exit = co_await examples::exitOf(clients[id]);
    if (exit.ok()) {
      ++succeeded;
    } else {
      kLog.warn("client failed", {{"client", id},
                                  {"reason", examples::reasonName(exit.reason)},
                                  {"status", exit.status},
                                  {"detail", exit.message}});
    }
  }
}

selium::Task<int32_t> runDemo(uint32_t clients, uint32_t count) {
  // Nothing works without the Switchboard: say so now rather than in every child.
  auto board = co_await examples::connectSwitchboard();
  if (!board) co_return failed("cannot reach the Switchboard", board.error());
  // A service name of this demo's own: a second demo in the runtime has its own server.
  std::string service =
      "examples.sb_echo." + selium::switchboard::detail::decimal(selium::processId());

  auto started = examples::switchboardPeer(std::string(kModule), "serve")
                     .arg(selium::Arg::utf8(service))
                     .start();
  if (!started) co_return failed("cannot start the server", started.error());
  std::vector<selium::ChildProcess> server;  // one, in a vector for stopAll and firstFailure
  server.push_back(std::move(*started));

  // The clients need not wait for the server: each request waits until the Switchboard has
  // wired its client to the server of the name.
  std::vector<selium::ChildProcess> children;
  for (uint32_t id = 0; id < clients; ++id) {
    auto child = examples::switchboardPeer(std::string(kModule), "client")
                     .arg(selium::Arg::utf8(service))
                     .arg(selium::Arg::u32(id))
                     .arg(selium::Arg::u32(count))
                     .start();
    if (!child) {
      int32_t status = failed("cannot start a client", child.error());
      co_await examples::stopAll(children);
      co_await examples::stopAll(server);
      co_return status;
    }
    children.push_back(std::move(*child));
  }

  // Wait for every client, unless the server ends first (it cannot register, it failed): the
  // clients would then wait for a server for ever.
  uint32_t succeeded = 0;
  std::optional<examples::Ended> server_ended;
  std::vector<selium::Task<void>> outcome;
  outcome.push_back(awaitClients(children, succeeded));
  outcome.push_back(examples::firstFailure(server, server_ended));
  if (co_await selium::race(std::move(outcome)) == 1) {
    kLog.error("the server ended while clients were running",
               {{"reason", examples::reasonName(server_ended->exit.reason)},
                {"status", server_ended->exit.status},
                {"detail", server_ended->exit.message}});
    co_await examples::stopAll(children);
    co_return 1;
  }
  (void)server[0].stop();
  selium::Exit stopped = co_await examples::exitOf(server[0]);
  kLog.info("demo done", {{"service", service},
                          {"clients", clients},
                          {"succeeded", succeeded},
                          {"requests", uint64_t{clients} * count},
                          {"server", stopped.message}});
  co_return succeeded == clients ? 0 : 1;
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, service)) {
  auto board = co_await examples::connectSwitchboard();
  if (!board) co_return failed("cannot reach the Switchboard", board.error());
  // Refused if the name already has a server, or belongs to other schemas: the message says so.
  auto server = co_await board->server<EchoRequest, EchoReply>(std::string(service));
  if (!server) co_return failed("cannot register the server", server.error());
  kLog.info("serving", {{"service", service}, {"endpoint", server->id()}});
  uint64_t served = 0;
  for (uint64_t received = 1;; ++received) {
    if (received % kRequestsPerYield == 0) co_await selium::yield();
    // A request that does not decode as EchoRequest never gets here: the SDK answers it with an
    // error reply.
    auto request = co_await server->recv();
    if (!request) co_return failed("cannot receive requests", request.error());
    const EchoRequest& asked = request->value;
    // reply() never waits: a client that does not read its replies loses them, nobody else.
    auto replied =
        server->reply(*request, EchoReply{asked.client, asked.seq, upper(asked.text), served});
    if (!replied) {
      kLog.warn("reply lost",
                {{"client_endpoint", request->client}, {"error", replied.error().message}});
      continue;
    }
    ++served;
  }
}

SELIUM_ENTRYPOINT(client, (utf8, service), (u32, id), (u32, count)) {
  auto board = co_await examples::connectSwitchboard();
  if (!board) co_return failed("cannot reach the Switchboard", board.error());
  auto client = co_await board->client<EchoRequest, EchoReply>(std::string(service));
  if (!client) co_return failed("cannot register the client", client.error());

  Calls calls;
  calls.count = count;
  std::vector<selium::Task<void>> tasks;
  for (uint32_t t = 0; t < kInFlight; ++t) tasks.push_back(caller(*client, id, calls));
  co_await selium::whenAll(std::move(tasks));
  kLog.info("client done", {{"client", id},
                            {"endpoint", client->id()},
                            {"requests", count},
                            {"ok", calls.ok},
                            {"wrong", calls.wrong},
                            {"failed", calls.failed}});
  if (calls.wrong != 0) co_return 2;
  co_return calls.ok == count ? 0 : 1;
}

SELIUM_ENTRYPOINT(demo, (u32, clients), (u32, count)) {
  co_return co_await runDemo(clients, count);
}
