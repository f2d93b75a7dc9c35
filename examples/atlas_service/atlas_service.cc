// A service found through Atlas, the sel:// directory: the service registers the shared id of
// its request channel under a URI, and its clients look the URI up instead of knowing a
// singleton name or being handed a handle.
//
//   serve(utf8 uri)             creates its request channel, inserts uri -> the channel's shared
//                               id in Atlas, logs "serving" {uri, channel} and answers every
//                               request until stopped. The entry goes when the process ends.
//   client(utf8 uri, u32 count) looks the URI up (get, until the service has registered), looks
//                               up every entry of the URI's tenant (a pattern), attaches the
//                               channel, sends `count` requests and checks each reply.
//   demo(u32 clients, u32 count)
//                               starts `serve` for sel://examples/greeter and `clients` clients
//                               as children, waits for them, stops the service and checks that
//                               its entry has gone. Status 0 when everything held.
//
// A request frame is [u64 LE shared id of the client's reply channel][name]; the reply is
// "hello, {name}". Every client has its own reply channel.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <selium/atlas.hpp>
#include <selium/selium.hpp>
#include <selium/uri.hpp>

#include "../common/children.hpp"

namespace {

using examples::exitOf;
using examples::reasonName;
using examples::stopAll;

using namespace std::chrono_literals;

constexpr selium::log::Logger kLog{"examples.atlas_service"};
constexpr std::string_view kDemoUri = "sel://examples/greeter";
constexpr uint32_t kRequestChannelBytes = 64 * 1024;
constexpr uint32_t kReplyChannelBytes = 16 * 1024;
// Replies being written at once; past it the service drops requests (their clients' channels
// are full: they are not reading). Keeps the service's memory bounded whatever clients do.
constexpr uint32_t kMaxReplying = 256;
// How long a process looks for something that is still starting (the Atlas, the service's
// entry) or still going (the entry of a service that has ended), in steps of 10 ms.
constexpr int kPolls = 500;

int32_t failed(std::string_view what, selium::Error error) {
  kLog.error(what, {{"error", error.name()}, {"detail", selium::lastError()}});
  return 1;
}

std::vector<uint8_t> requestFrame(selium::SharedId reply_id, std::string_view name) {
  std::vector<uint8_t> frame;
  frame.reserve(8 + name.size());
  for (int i = 0; i < 8; ++i) {
    frame.push_back(static_cast<uint8_t>(static_cast<uint64_t>(reply_id) >> (8 * i)));
  }
  frame.insert(frame.end(), name.begin(), name.end());
  return frame;
}

std::string greeting(std::string_view name) { return "hello, " + std::string(name); }

// Connects to the Atlas, waiting for it while it is still starting (NotFound).
selium::Task<selium::Result<selium::Atlas>> connectAtlas() {
  for (int poll = 0;; ++poll) {
    auto atlas = selium::Atlas::connect();
    if (atlas || atlas.error() != selium::ErrorCode::NotFound || poll == kPolls) co_return atlas;
    auto slept = co_await selium::sleep(10ms);
    if (!slept) co_return slept.error();
  }
}

// The value registered under `uri`: waits while there is none (the service is starting).
// nullopt if none came in time.
selium::Task<selium::Result<std::optional<uint64_t>>> awaitEntry(selium::Atlas& atlas,
                                                                 const selium::Uri& uri) {
  for (int poll = 0;; ++poll) {
    auto found = co_await atlas.get(uri);
    if (!found || found->has_value() || poll == kPolls) co_return found;
    auto slept = co_await selium::sleep(10ms);
    if (!slept) co_return slept.error();
  }
}

// Whether `uri` has no entry, waiting a while for Atlas to remove one whose owner ended.
selium::Task<selium::Result<bool>> awaitNoEntry(selium::Atlas& atlas, const selium::Uri& uri) {
  for (int poll = 0;; ++poll) {
    auto found = co_await atlas.get(uri);
    if (!found) co_return found.error();
    if (!found->has_value() || poll == kPolls) co_return !found->has_value();
    auto slept = co_await selium::sleep(10ms);
    if (!slept) co_return slept.error();
  }
}

// ---- the service ----

struct Replying {
  uint32_t now = 0;
  uint64_t dropped = 0;
};

// Writes one reply. A task of its own, so a client that does not read its channel holds up
// only this task, never the service.
selium::Task<void> reply(std::shared_ptr<Replying> replying, uint64_t reply_id, std::string text) {
  struct Done {
    Replying& replying;
    ~Done() { --replying.now; }
  } done{*replying};
  // The client shared its reply channel; a client gone meanwhile leaves nothing to do.
  auto channel = selium::Channel::attach(static_cast<selium::SharedId>(reply_id));
  if (!channel) co_return;
  auto writer = channel->writer(selium::Strength::Weak);
  if (writer) (void)co_await writer->write(text);
}

selium::Task<int32_t> serve(std::string_view text) {
  auto uri = selium::Uri::parse(text);
  if (!uri) {
    kLog.error("not a sel:// URI", {{"uri", text}, {"error", uri.error().text()}});
    co_return 1;
  }
  auto requests = selium::Channel::create(kRequestChannelBytes);
  if (!requests) co_return failed("cannot create the request channel", requests.error());
  auto reader = requests->reader();
  if (!reader) co_return failed("cannot read the request channel", reader.error());
  // Clients get the id of a weak writer, never of the channel: a client holding the channel
  // could drain or delete it and stop the service for everyone.
  auto client_writer = requests->writer(selium::Strength::Weak);
  if (!client_writer) co_return failed("cannot open the clients' writer", client_writer.error());
  auto id = client_writer->handle().share();
  if (!id) co_return failed("cannot share the request channel", id.error());

  auto atlas = co_await connectAtlas();
  if (!atlas) co_return failed("no Atlas to register in", atlas.error());
  auto inserted = co_await atlas->insert(*uri, static_cast<uint64_t>(*id));
  if (!inserted) {
    kLog.error("cannot register the service", {{"uri", uri->toString()},
                                               {"error", inserted.error().name()},
                                               {"detail", atlas->lastError()}});
    co_return 1;
  }
  kLog.info("serving", {{"uri", uri->toString()}, {"writer", static_cast<uint64_t>(*id)}});

  auto replying = std::make_shared<Replying>();
  std::vector<uint8_t> buffer;
  for (;;) {
    auto batch = co_await reader->readBatch(buffer);
    if (!batch) co_return failed("the request channel failed", batch.error());
    for (std::span<const uint8_t> frame : *batch) {
      if (frame.size() < 8) continue;  // not a request
      uint64_t reply_id = 0;
      for (int i = 0; i < 8; ++i)
        reply_id |= uint64_t{frame[static_cast<std::size_t>(i)]} << (8 * i);
      if (replying->now >= kMaxReplying) {
        if (replying->dropped++ == 0) {
          kLog.warn("clients are not reading their replies; dropping requests",
                    {{"replying", replying->now}});
        }
        continue;
      }
      ++replying->now;
      selium::spawn(reply(replying, reply_id,
                          greeting(std::string_view(reinterpret_cast<const char*>(frame.data()) + 8,
                                                    frame.size() - 8))));
    }
  }
}

// ---- a client ----

// The pattern of every entry under `uri`'s tenant: sel://{tenant}.
selium::Uri tenantOf(const selium::Uri& uri) {
  selium::UriParts parts;
  parts.tenant = uri.tenant();
  return std::move(selium::Uri::fromParts(std::move(parts))).value();
}

selium::Task<int32_t> client(std::string_view text, uint32_t count) {
  auto uri = selium::Uri::parse(text);
  if (!uri) {
    kLog.error("not a sel:// URI", {{"uri", text}, {"error", uri.error().text()}});
    co_return 1;
  }
  auto atlas = co_await connectAtlas();
  if (!atlas) co_return failed("no Atlas to look the service up in", atlas.error());

  // By URI: exactly this entry. The service may still be starting: wait for it.
  auto found = co_await awaitEntry(*atlas, *uri);
  if (!found) {
    kLog.error("lookup failed", {{"uri", uri->toString()},
                                 {"error", found.error().name()},
                                 {"detail", atlas->lastError()}});
    co_return 1;
  }
  if (!found->has_value()) {
    kLog.error("no service registered", {{"uri", uri->toString()}});
    co_return 1;
  }
  const uint64_t id = **found;
  // By pattern: every entry of the tenant, the service's among them.
  selium::Uri pattern = tenantOf(*uri);
  auto matches = co_await atlas->lookup(pattern);
  if (!matches) {
    kLog.error("pattern lookup failed", {{"pattern", pattern.toString()},
                                         {"error", matches.error().name()},
                                         {"detail", atlas->lastError()}});
    co_return 1;
  }
  bool listed = std::find(matches->begin(), matches->end(), id) != matches->end();
  kLog.info("found", {{"uri", uri->toString()},
                      {"writer", id},
                      {"pattern", pattern.toString()},
                      {"matches", matches->size()},
                      {"listed", listed}});
  if (!listed) {
    kLog.error("the pattern lookup does not list the service", {{"pattern", pattern.toString()}});
    co_return 2;
  }

  auto writer = selium::Writer::attach(static_cast<selium::SharedId>(id));
  if (!writer) co_return failed("cannot attach the service's writer", writer.error());
  auto replies = selium::Channel::create(kReplyChannelBytes);
  if (!replies) co_return failed("cannot create a reply channel", replies.error());
  auto reader = replies->reader();
  if (!reader) co_return failed("cannot read the reply channel", reader.error());
  auto reply_id = replies->share();
  if (!reply_id) co_return failed("cannot share the reply channel", reply_id.error());

  const std::string me = "process " + std::to_string(selium::processId());
  for (uint32_t i = 0; i < count; ++i) {
    std::string name = me + " #" + std::to_string(i);
    auto sent = co_await writer->write(requestFrame(*reply_id, name));
    if (!sent) co_return failed("request failed", sent.error());
    auto got = co_await reader->read();
    if (!got) co_return failed("reply failed", got.error());
    std::string text_got(got->begin(), got->end());
    if (text_got != greeting(name)) {
      kLog.error("wrong reply", {{"expected", greeting(name)}, {"got", text_got}});
      co_return 2;
    }
  }
  (void)replies->remove();  // frees the ring now
  kLog.info("client done", {{"uri", uri->toString()}, {"requests", count}});
  co_return 0;
}

// ---- demo ----

selium::Task<void> watchExit(selium::ChildProcess& child, std::optional<selium::Exit>& out) {
  out = co_await exitOf(child);
}

selium::Task<void> findEntry(selium::Atlas& atlas, const selium::Uri& uri,
                             std::optional<selium::Result<std::optional<uint64_t>>>& out) {
  out.emplace(co_await awaitEntry(atlas, uri));
}

selium::Task<void> awaitClients(std::vector<selium::ChildProcess>& clients, uint32_t& succeeded) {
  for (std::size_t i = 0; i < clients.size(); ++i) {
    selium::Exit exit = co_await exitOf(clients[i]);
    if (exit.ok()) {
      ++succeeded;
    } else {
      kLog.warn("client failed", {{"client", i},
                                  {"reason", reasonName(exit.reason)},
                                  {"status", exit.status},
                                  {"detail", exit.message}});
    }
  }
}

selium::ProcessBuilder child(std::string entrypoint) {
  selium::ProcessBuilder builder("atlas_service.wasm");
  builder.entrypoint(std::move(entrypoint))
      .capability(SELIUM_CAP_SingletonLookup)
      .capability(SELIUM_CAP_ChannelLifecycle)
      .capability(SELIUM_CAP_ChannelReader)
      .capability(SELIUM_CAP_ChannelWriter)
      .capability(SELIUM_CAP_TimeRead)
      .arg(selium::Arg::utf8(kDemoUri));
  return builder;
}

selium::Task<int32_t> demo(uint32_t clients, uint32_t count) {
  const selium::Uri uri = selium::Uri::parse(kDemoUri).value();
  auto atlas = co_await connectAtlas();
  if (!atlas) co_return failed("no Atlas: start selium_atlas_server.wasm first", atlas.error());
  auto already = co_await atlas->get(uri);
  if (already && already->has_value()) {
    kLog.error("another greeter is registered", {{"uri", uri.toString()}});
    co_return 1;
  }

  auto started = child("serve").start();
  if (!started) co_return failed("cannot start the service", started.error());
  std::vector<selium::ChildProcess> service;  // one, in a vector for stopAll
  service.push_back(std::move(*started));

  // Wait until the service has registered, or has ended without registering.
  std::optional<selium::Result<std::optional<uint64_t>>> entry;
  std::optional<selium::Exit> service_exit;
  std::vector<selium::Task<void>> first;
  first.push_back(findEntry(*atlas, uri, entry));
  first.push_back(watchExit(service[0], service_exit));
  if (co_await selium::race(std::move(first)) == 1) {
    kLog.error("the service ended before it registered",
               {{"reason", reasonName(service_exit->reason)},
                {"status", service_exit->status},
                {"detail", service_exit->message}});
    co_return 1;
  }
  if (!*entry || !(*entry)->has_value()) {
    kLog.error("the service never registered", {{"uri", uri.toString()}});
    co_await stopAll(service);
    co_return 1;
  }
  kLog.info("service registered", {{"uri", uri.toString()}, {"writer", ***entry}});

  std::vector<selium::ChildProcess> children;
  for (uint32_t i = 0; i < clients; ++i) {
    auto started_client = child("client").arg(selium::Arg::u32(count)).start();
    if (!started_client) {
      int32_t status = failed("cannot start a client", started_client.error());
      co_await stopAll(children);
      co_await stopAll(service);
      co_return status;
    }
    children.push_back(std::move(*started_client));
  }

  uint32_t succeeded = 0;
  std::vector<selium::Task<void>> outcome;
  outcome.push_back(awaitClients(children, succeeded));
  outcome.push_back(watchExit(service[0], service_exit));
  if (co_await selium::race(std::move(outcome)) == 1) {
    kLog.error("the service ended while clients were running",
               {{"reason", reasonName(service_exit->reason)},
                {"status", service_exit->status},
                {"detail", service_exit->message}});
    co_await stopAll(children);
    co_return 1;
  }

  // The entry belongs to the service's process: Atlas removes it when that process ends.
  (void)service[0].stop();
  selium::Exit stopped = co_await exitOf(service[0]);
  auto gone = co_await awaitNoEntry(*atlas, uri);
  if (!gone) co_return failed("cannot look the entry up", gone.error());
  kLog.info("demo done", {{"clients", clients},
                          {"succeeded", succeeded},
                          {"service", stopped.message},
                          {"entry_removed", *gone}});
  co_return succeeded == clients&&* gone ? 0 : 1;
}

}  // namespace

SELIUM_ENTRYPOINT(serve, (utf8, uri)) { co_return co_await serve(uri); }

SELIUM_ENTRYPOINT(client, (utf8, uri), (u32, count)) { co_return co_await client(uri, count); }

SELIUM_ENTRYPOINT(demo, (u32, clients), (u32, count)) { co_return co_await demo(clients, count); }
