// Request/reply over channels, with many clients talking to one server at once.
//
//   server()                    registers its request channel as the singleton "examples.echo",
//                               then answers each request on the reply channel the request names.
//   client(u32 id, u32 count)   finds the server, sends `count` requests and checks each reply.
//   demo(u32 clients, u32 count)
//                               starts a server and `clients` clients as child processes, waits
//                               for every client, stops the server. Status 0 when all succeeded.
//
// A request frame is [u64 LE shared id of the client's reply channel][payload]; the reply is the
// payload upper-cased. Every client has its own reply channel, so replies reach only the client
// that asked, and the server's one strong reader hears every client (an idle or departed client
// never holds up later ones).
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <selium/selium.hpp>

namespace {

constexpr selium::log::Logger kLog{"examples.request_reply"};
constexpr std::string_view kServiceName = "examples.echo";

int32_t failed(std::string_view what, selium::Error error) {
  kLog.error(what, {{"error", error.name()}, {"detail", selium::lastError()}});
  return 1;
}

void putU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t getU64(std::span<const uint8_t> in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{in[i]} << (8 * i);
  return v;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

SELIUM_ENTRYPOINT(server) {
  auto requests = selium::Channel::create(256 * 1024);
  if (!requests) co_return failed("cannot create the request channel", requests.error());
  auto reader = requests->reader();
  if (!reader) co_return failed("cannot read the request channel", reader.error());
  auto registered =
      selium::registerSingleton(selium::singletonId(kServiceName), requests->handle());
  if (!registered) co_return failed("cannot register the service", registered.error());
  kLog.info("serving", {{"service", kServiceName}});

  // One writer per client reply channel, opened on its first request.
  std::map<uint64_t, selium::Writer> replies;
  std::vector<uint8_t> buffer;
  for (;;) {
    auto batch = co_await reader->readBatch(buffer);
    if (!batch) co_return failed("request channel failed", batch.error());
    for (std::span<const uint8_t> frame : *batch) {
      if (frame.size() < 8) continue;  // not a request
      uint64_t reply_id = getU64(frame);
      auto it = replies.find(reply_id);
      if (it == replies.end()) {
        auto channel = selium::Channel::attach(static_cast<selium::SharedId>(reply_id));
        if (!channel) continue;  // the client has gone
        auto writer = channel->writer(selium::Strength::Weak);
        if (!writer) continue;
        if (replies.size() >= 1024) replies.clear();  // bounded: writers reopen on demand
        it = replies.emplace(reply_id, std::move(*writer)).first;
      }
      std::string_view payload(reinterpret_cast<const char*>(frame.data()) + 8, frame.size() - 8);
      auto written = co_await it->second.write(upper(payload));
      if (!written) replies.erase(it);  // its client deleted the channel or ended
    }
  }
}

SELIUM_ENTRYPOINT(client, (u32, id), (u32, count)) {
  // The server may still be starting: look it up until it is there.
  selium::Result<selium::Handle> service = selium::Error(selium::ErrorCode::NotFound);
  for (int attempt = 0; attempt < 500; ++attempt) {
    service = selium::lookupSingleton(selium::singletonId(kServiceName), selium::Kind::Channel);
    if (service || service.error() != selium::ErrorCode::NotFound) break;
    (void)co_await selium::sleep(std::chrono::milliseconds(10));
  }
  if (!service) co_return failed("cannot find the service", service.error());
  selium::Channel requests(std::move(*service));
  auto writer = requests.writer(selium::Strength::Weak);
  if (!writer) co_return failed("cannot write requests", writer.error());

  auto replies = selium::Channel::create(16 * 1024);
  if (!replies) co_return failed("cannot create a reply channel", replies.error());
  auto reader = replies->reader();
  auto reply_id = replies->share();
  if (!reader || !reply_id) co_return failed("cannot set up replies", reader.error());

  for (uint32_t i = 0; i < count; ++i) {
    std::string text = "client " + std::to_string(id) + " request " + std::to_string(i);
    std::vector<uint8_t> request;
    putU64(request, static_cast<uint64_t>(*reply_id));
    request.insert(request.end(), text.begin(), text.end());
    auto sent = co_await writer->write(request);
    if (!sent) co_return failed("request failed", sent.error());
    auto reply = co_await reader->read();
    if (!reply) co_return failed("reply failed", reply.error());
    std::string got(reply->begin(), reply->end());
    if (got != upper(text)) {
      kLog.error("wrong reply", {{"expected", upper(text)}, {"got", got}});
      co_return 2;
    }
  }
  kLog.info("client done", {{"client", id}, {"requests", count}});
  co_return 0;
}

SELIUM_ENTRYPOINT(demo, (u32, clients), (u32, count)) {
  auto server = selium::ProcessBuilder("request_reply.wasm")
                    .entrypoint("server")
                    .capability(SELIUM_CAP_ChannelLifecycle)
                    .capability(SELIUM_CAP_ChannelReader)
                    .capability(SELIUM_CAP_ChannelWriter)
                    .capability(SELIUM_CAP_SingletonRegistry)
                    .start();
  if (!server) co_return failed("cannot start the server", server.error());
  std::vector<selium::ChildProcess> children;
  for (uint32_t id = 0; id < clients; ++id) {
    auto child = selium::ProcessBuilder("request_reply.wasm")
                     .entrypoint("client")
                     .capability(SELIUM_CAP_ChannelLifecycle)
                     .capability(SELIUM_CAP_ChannelReader)
                     .capability(SELIUM_CAP_ChannelWriter)
                     .capability(SELIUM_CAP_SingletonLookup)
                     .capability(SELIUM_CAP_TimeRead)
                     .arg(selium::Arg::u32(id))
                     .arg(selium::Arg::u32(count))
                     .start();
    if (!child) co_return failed("cannot start a client", child.error());
    children.push_back(std::move(*child));
  }
  uint32_t succeeded = 0;
  for (selium::ChildProcess& child : children) {
    auto exit = co_await child.exit();
    if (exit && exit->ok()) ++succeeded;
  }
  (void)server->stop();
  auto server_exit = co_await server->exit();
  kLog.info("demo done", {{"clients", clients},
                          {"succeeded", succeeded},
                          {"server", server_exit ? server_exit->message : "?"}});
  co_return succeeded == clients ? 0 : 1;
}
