// The Switchboard's data path against channels made by hand, between the same two guest
// processes in the same run: publish -> subscribe throughput of 32-byte messages, RPC round trip
// latency with one request in flight, and RPC throughput with several in flight. A real engine
// runs the real Switchboard module (selium_switchboard_server.wasm) and bench_switchboard.wasm
// (bench/guests/switchboard.cc). See bench/README.md.
//
//   switchboard_bench [--messages 200000] [--rounds 20000] [--requests 100000] [--inflight 8]
//                     [--capacity 65536] [--reps 5]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_util.h"
#include "guest_harness.h"

namespace selium::bench {
namespace {

namespace fs = std::filesystem;
using kernel::Capability;

struct Options {
  uint32_t messages = 200'000;  // published per run
  uint32_t rounds = 20'000;     // timed round trips per latency run
  uint32_t requests = 100'000;  // requests per throughput run
  uint32_t inflight = 8;        // requests in flight in throughput runs
  uint32_t capacity = 64 * 1024;
  int reps = 5;
};

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto number = [&] { return static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10)); };
    if (arg == "--messages" && i + 1 < argc) {
      o.messages = number();
    } else if (arg == "--rounds" && i + 1 < argc) {
      o.rounds = number();
    } else if (arg == "--requests" && i + 1 < argc) {
      o.requests = number();
    } else if (arg == "--inflight" && i + 1 < argc) {
      o.inflight = number();
    } else if (arg == "--capacity" && i + 1 < argc) {
      o.capacity = number();
    } else if (arg == "--reps" && i + 1 < argc) {
      o.reps = static_cast<int>(number());
    } else {
      die("usage: switchboard_bench [--messages N] [--rounds N] [--requests N] [--inflight K] "
          "[--capacity BYTES] [--reps R]");
    }
  }
  if (o.messages < 1000 || o.rounds < 100 || o.requests < 1000 || o.inflight < 2 ||
      o.inflight > 256 || o.capacity < 4096 || o.capacity > (16u << 20) || o.reps < 1 ||
      o.messages > (1u << 30) || o.rounds > (1u << 30) || o.requests > (1u << 30)) {
    die("--messages at least 1000, --rounds at least 100, --requests at least 1000 (each below "
        "2^30), --inflight 2 to 256, --capacity 4096 to 16 MiB, --reps at least 1");
  }
  return o;
}

// Every bench process's capabilities (the channel pairs need no SingletonLookup; it is harmless).
constexpr std::initializer_list<Capability> kEndpointCaps = {
    Capability::ChannelLifecycle, Capability::ChannelReader, Capability::ChannelWriter,
    Capability::SingletonLookup, Capability::TimeRead};

// One engine with the Switchboard running and the bench guest loaded.
class Bench : public GuestHarness {
 public:
  Bench(std::size_t workers, const fs::path& cache)
      : GuestHarness(workers, cache,
                     {"switchboard ready", "ready", "serving", "sent", "received", "rtt", "rate"}),
        workers_(workers) {
    auto server = load("selium_switchboard_server.wasm");
    guest = load("bench_switchboard.wasm");
    awaitTurbofan();
    switchboard_ =
        spawn(server, "start", {},
              {Capability::ChannelLifecycle, Capability::ChannelReader, Capability::ChannelWriter,
               Capability::SingletonRegistry, Capability::TimeRead});
    exits.mayBeTerminated(switchboard_);  // at the engine's shutdown
    waitRecord(switchboard_, "switchboard ready");
  }

  kernel::ProcessId start(const std::string& entry, std::vector<kernel::EntrypointArg> args) {
    return spawn(guest, entry, std::move(args), kEndpointCaps);
  }

  // Both ended normally; on two workers, dies unless they ran on different workers (the
  // engine places each spawn on the least-loaded worker; the Switchboard holds one).
  void finish(kernel::ProcessId a, kernel::ProcessId b, const std::string& what) {
    exits.wait(a);
    exits.wait(b);
    if (workers_ > 1 && threadOf(a) == threadOf(b)) {
      die(what + ": the engine placed both processes on the same worker");
    }
  }

  // A name no earlier run used.
  std::string name(const char* prefix) { return prefix + std::to_string(++names_); }

  std::size_t workers() const { return workers_; }

  std::shared_ptr<const engine::Module> guest;

 private:
  std::size_t workers_;
  kernel::ProcessId switchboard_ = 0;
  uint64_t names_ = 0;
};

// ---- the runs -------------------------------------------------------------------------------

// Messages per second from the publisher's first send to the subscriber's last receive (both
// read the monotonic clock in the guests).
double rateOf(Bench& b, kernel::ProcessId publisher, kernel::ProcessId subscriber,
              uint32_t messages, const std::string& what) {
  uint64_t start = uintField(b.waitRecord(publisher, "sent"), "start");
  uint64_t end = uintField(b.waitRecord(subscriber, "received"), "end");
  b.finish(publisher, subscriber, what);
  if (end <= start) die(what + ": the last message came before the first was sent");
  return static_cast<double>(messages) / (static_cast<double>(end - start) / 1e9);
}

double switchboardPubSub(Bench& b, const Options& o) {
  std::string name = b.name("bench.pubsub.");
  kernel::ProcessId sub = b.start("sb_subscribe", {utf8Arg(name), u32Arg(o.messages)});
  kernel::ProcessId pub =
      b.start("sb_publish", {utf8Arg(name), u32Arg(o.messages), u32Arg(o.capacity)});
  return rateOf(b, pub, sub, o.messages, "Switchboard publish/subscribe");
}

double channelPubSub(Bench& b, const Options& o) {
  kernel::ProcessId sub = b.start("ch_subscribe", {u32Arg(o.capacity), u32Arg(o.messages)});
  uint64_t channel = uintField(b.waitRecord(sub, "ready"), "channel");
  kernel::ProcessId pub = b.start("ch_publish", {resourceArg(channel), u32Arg(o.messages)});
  return rateOf(b, pub, sub, o.messages, "channel publish/subscribe");
}

struct Rtt {
  double p50 = 0, p99 = 0, mean = 0;  // microseconds
};

// A server for `requests` requests (after the warm-up ones) and a client; `inflight` 1: the
// client's round trip percentiles; else requests per second (in Rtt::mean).
Rtt switchboardRpc(Bench& b, uint32_t requests, uint32_t warmup, uint32_t inflight) {
  std::string name = b.name("bench.rpc.");
  kernel::ProcessId server = b.start("sb_serve", {utf8Arg(name), u32Arg(requests + warmup)});
  b.waitRecord(server, "serving");
  kernel::ProcessId client =
      b.start("sb_call", {utf8Arg(name), u32Arg(requests), u32Arg(warmup), u32Arg(inflight)});
  Rtt r;
  if (inflight == 1) {
    kernel::GuestLogRecord rtt = b.waitRecord(client, "rtt");
    r = {uintField(rtt, "p50") / 1e3, uintField(rtt, "p99") / 1e3, uintField(rtt, "mean") / 1e3};
  } else {
    r.mean = requests / (uintField(b.waitRecord(client, "rate"), "nanos") / 1e9);
  }
  b.finish(client, server, "Switchboard RPC");
  return r;
}

Rtt channelRpc(Bench& b, const Options& o, uint32_t requests, uint32_t warmup, uint32_t inflight) {
  kernel::ProcessId server = b.start("ch_serve", {u32Arg(o.capacity), u32Arg(requests + warmup)});
  kernel::GuestLogRecord ready = b.waitRecord(server, "ready");
  kernel::ProcessId client =
      b.start("ch_call",
              {resourceArg(uintField(ready, "requests")), resourceArg(uintField(ready, "replies")),
               u32Arg(requests), u32Arg(warmup), u32Arg(inflight)});
  Rtt r;
  if (inflight == 1) {
    kernel::GuestLogRecord rtt = b.waitRecord(client, "rtt");
    r = {uintField(rtt, "p50") / 1e3, uintField(rtt, "p99") / 1e3, uintField(rtt, "mean") / 1e3};
  } else {
    r.mean = requests / (uintField(b.waitRecord(client, "rate"), "nanos") / 1e9);
  }
  b.finish(client, server, "channel RPC");
  return r;
}

// ---- the report -----------------------------------------------------------------------------

std::string verdict(bool met, double ratio) {
  return met ? format("met (%.2fx)", ratio) : format("MISSED (%.2fx)", ratio);
}

std::string placement(const Bench& b) { return b.workers() == 1 ? "one worker" : "two workers"; }

int run(const Options& o) {
  std::atomic<uint64_t> held{0};
  quietLog("its worker", &held);
  char pattern[] = "/tmp/selium-switchboard-bench-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) die("mkdtemp failed");
  const fs::path tmp = pattern;

  // One worker: both endpoints (and the Switchboard) share it. Two: the endpoints run on
  // different workers. The second engine loads TurboFan code from the first's compile cache.
  Bench one(1, tmp / "cache");
  Bench two(2, tmp / "cache");
  Bench* benches[] = {&one, &two};
  const uint32_t warmup = std::max<uint32_t>(o.rounds / 10, 10);

  Table pubsub(
      {"publish -> subscribe, 32 B", "Switchboard", "channel by hand", "ratio", "target >= 0.8x"});
  Table latency({"RPC round trip, 32 B, 1 in flight", "Switchboard p50", "p99",
                 "channels by hand p50", "p99", "ratio p50", "ratio p99", "target <= 2x"});
  Table rate(
      {format("RPC, 32 B, %u in flight", o.inflight), "Switchboard", "channels by hand", "ratio"});
  for (Bench* b : benches) {
    std::vector<double> sb_rate, ch_rate, sb50, sb99, ch50, ch99, sb_rps, ch_rps;
    for (int rep = 0; rep < o.reps; ++rep) {  // interleaved, so drift hits both alike
      sb_rate.push_back(switchboardPubSub(*b, o));
      ch_rate.push_back(channelPubSub(*b, o));
      Rtt s = switchboardRpc(*b, o.rounds, warmup, 1);
      Rtt c = channelRpc(*b, o, o.rounds, warmup, 1);
      sb50.push_back(s.p50);
      sb99.push_back(s.p99);
      ch50.push_back(c.p50);
      ch99.push_back(c.p99);
      sb_rps.push_back(switchboardRpc(*b, o.requests, warmup, o.inflight).mean);
      ch_rps.push_back(channelRpc(*b, o, o.requests, warmup, o.inflight).mean);
    }
    double ratio = median(sb_rate) / median(ch_rate);
    pubsub.row({placement(*b), format("%.0f msgs/s", median(sb_rate)),
                format("%.0f msgs/s", median(ch_rate)), format("%.2fx", ratio),
                verdict(ratio >= 0.8, ratio)});
    double r50 = median(sb50) / median(ch50), r99 = median(sb99) / median(ch99);
    latency.row({placement(*b), format("%.1f us", median(sb50)), format("%.1f us", median(sb99)),
                 format("%.1f us", median(ch50)), format("%.1f us", median(ch99)),
                 format("%.2fx", r50), format("%.2fx", r99),
                 r50 <= 2 && r99 <= 2 ? "met" : "MISSED"});
    rate.row({placement(*b), format("%.0f req/s", median(sb_rps)),
              format("%.0f req/s", median(ch_rps)),
              format("%.2fx", median(sb_rps) / median(ch_rps))});
  }
  pubsub.print();
  std::printf(
      "\n%u messages per run, one co_await per message on both sides (Publisher::send / "
      "Subscriber::recv against Writer::write / Reader::read of the same encoded message); "
      "publisher's channel %u bytes, Park, as the channel's. Medians of %d runs, interleaved; "
      "time from the publisher's first send to the subscriber's last receive.\n\n",
      o.messages, o.capacity, o.reps);
  latency.print();
  std::printf(
      "\n%u round trips per run after %u warm-up ones, each timed by the client guest "
      "(Client::request against a write to the request channel and a read of the reply "
      "channel); medians over %d runs of each run's percentiles.\n\n",
      o.rounds, warmup, o.reps);
  rate.print();
  std::printf(
      "\n%u requests per run, %u in flight: %u tasks calling Client::request, against one task "
      "keeping %u requests written ahead of the replies it reads. Medians of %d runs.\n",
      o.requests, o.inflight, o.inflight, o.inflight, o.reps);
  if (held > 0) {
    std::printf(
        "\n(%llu warnings that a guest call held its worker over the engine's 100 ms threshold; "
        "not printed.)\n",
        static_cast<unsigned long long>(held.load()));
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
