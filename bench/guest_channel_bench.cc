// Channels between guests, through the real engine and SDK: 1->1 throughput on one worker and
// across two, 64 KiB frames, 8 writers -> 1 reader and 1 writer -> 8 readers, and request/reply
// round trips; each against two native processes over a pipe and an in-process queue moving the
// same bytes, measured in the same run. See bench/README.md.
//
//   guest_channel_bench [--frames 4000000] [--single-frames 500000] [--big-frames 20000]
//                       [--rounds 20000] [--reps 5] [--only TEXT]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "frame_queue.h"
#include "guest_harness.h"

namespace selium::bench {
namespace {

namespace fs = std::filesystem;
using kernel::Capability;
using kernel::EntrypointArg;

struct Options {
  uint64_t frames = 4'000'000;       // 32-byte frames per batched case
  uint64_t single_frames = 500'000;  // 32-byte frames per case of one call per frame
  uint64_t big_frames = 20'000;      // 64 KiB frames per case
  uint32_t rounds = 20'000;          // request/reply round trips per run
  int reps = 5;
  std::string only;  // run only the cases whose name contains this ("request/reply": round trips)
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto number = [&] { return std::strtoull(argv[++i], nullptr, 10); };
    if (arg == "--frames" && i + 1 < argc) {
      options.frames = number();
    } else if (arg == "--single-frames" && i + 1 < argc) {
      options.single_frames = number();
    } else if (arg == "--big-frames" && i + 1 < argc) {
      options.big_frames = number();
    } else if (arg == "--rounds" && i + 1 < argc) {
      options.rounds = static_cast<uint32_t>(number());
    } else if (arg == "--reps" && i + 1 < argc) {
      options.reps = static_cast<int>(number());
    } else if (arg == "--only" && i + 1 < argc) {
      options.only = argv[++i];
    } else {
      die("usage: guest_channel_bench [--frames N] [--single-frames N] [--big-frames N] "
          "[--rounds N] [--reps R] [--only TEXT]");
    }
  }
  // Counts reach the guests as u32 arguments.
  if (options.frames < 8 * 256 || options.single_frames < 1000 || options.big_frames < 64 ||
      options.rounds < 100 || options.reps < 1 ||
      std::max({options.frames, options.single_frames, options.big_frames}) > UINT32_MAX / 2) {
    die("--frames at least 2048, --single-frames at least 1000, --big-frames at least 64 (each "
        "below 2^31), --rounds at least 100, --reps at least 1");
  }
  // Whole batches for every writer of every case.
  options.frames -= options.frames % 2048;
  options.big_frames -= options.big_frames % 64;
  return options;
}

// ---- frames ---------------------------------------------------------------------------------

// A frame of `size` bytes (at least 8) is [u32 writer][u32 seq][filler], little-endian, as the
// guests write and check them (bench/guests/channels.cc).
constexpr std::size_t kSmall = 32;
constexpr std::size_t kBig = 64 * 1024;
constexpr uint32_t kRing = 1 << 20;
constexpr std::size_t kReadBuffer = 256 * 1024;  // batched reads, as the guests' (4 big frames)

uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

std::size_t readBufferFor(std::size_t size) {
  return std::max(kReadBuffer, 4 * (kernel::Channel::kBatchHeader + size));
}

// `count` frames of writer `writer` as a batch (u32 LE length before each); number() sets their
// sequence numbers.
class FrameBatch {
 public:
  FrameBatch(std::size_t size, uint32_t count, uint32_t writer) : size_(size) {
    bytes_.resize(count * stride());
    for (uint32_t i = 0; i < count; ++i) {
      uint8_t* at = bytes_.data() + i * stride();
      store32(at, static_cast<uint32_t>(size));
      store32(at + 4, writer);
      for (std::size_t j = 8; j < size; ++j) at[4 + j] = static_cast<uint8_t>(j);
    }
  }
  std::size_t stride() const { return kernel::Channel::kBatchHeader + size_; }
  // The first `count` frames, numbered from `first`.
  std::span<const uint8_t> number(uint32_t first, uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) store32(bytes_.data() + i * stride() + 8, first + i);
    return std::span<const uint8_t>(bytes_).first(count * stride());
  }

 private:
  std::size_t size_;
  std::vector<uint8_t> bytes_;
};

// Each writer's next sequence number: what every reader checks.
class SeqCheck {
 public:
  explicit SeqCheck(std::size_t size) : size_(size), next_(64, 0) {}
  // The frames of a batch of `bytes`; dies on a frame out of order or of the wrong size.
  uint64_t batch(const uint8_t* data, std::size_t bytes) {
    uint64_t frames = 0;
    for (std::size_t at = 0; at < bytes; ++frames) {
      uint32_t length = load32(data + at);
      frame(data + at + 4, length);
      at += 4 + length;
    }
    return frames;
  }
  void frame(const uint8_t* frame, std::size_t length) {
    uint32_t writer = load32(frame);
    if (length != size_ || writer >= next_.size() || load32(frame + 4) != next_[writer]) {
      die("reference: a frame out of order or of the wrong size");
    }
    ++next_[writer];
  }

 private:
  std::size_t size_;
  std::vector<uint32_t> next_;
};

// ---- the cases ------------------------------------------------------------------------------

struct Flow {
  std::string name;
  bool across;       // the two-worker engine (else one worker)
  std::size_t size;  // bytes per frame
  uint32_t batch;    // frames per write call; 1: one call per frame, reads as well
  int writers;
  int readers;         // strong readers, each reading every frame
  uint32_t capacity;   // ring bytes (the pipe's buffer and the queue's bound too)
  uint64_t frames;     // per writer
  double target = 0;   // frames/s (or bytes/s when `bytes`) the issue asks for; 0: none
  bool bytes = false;  // report GB/s instead of frames/s
  bool pipe = true;    // a pipe reference (not for several writers or readers)
};

uint64_t delivered(const Flow& f) {  // frames delivered: each reader gets every frame
  return f.frames * static_cast<uint64_t>(f.writers) * static_cast<uint64_t>(f.readers);
}

double perSecond(const Flow& f, double seconds) {
  double frames = static_cast<double>(delivered(f));
  return (f.bytes ? frames * static_cast<double>(f.size) : frames) / seconds;
}

std::string rateText(const Flow& f, double per_second) {
  if (f.bytes) return format("%.2f GB/s", per_second / 1e9);
  return format("%.2f M/s", per_second / 1e6);
}

// ---- Selium: guests in the engine -----------------------------------------------------------

enum class Api { Sdk, Raw };

// One engine with the two channel guests loaded, keeping the records "ready", "rtt" and
// "moved".
class Harness : public GuestHarness {
 public:
  Harness(std::size_t workers, const fs::path& cache)
      : GuestHarness(workers, cache, {"ready", "rtt", "moved"}) {
    sdk = load("bench_channels.wasm");
    raw = load("bench_channels_raw.wasm");
  }

  std::shared_ptr<const engine::Module> sdk;
  std::shared_ptr<const engine::Module> raw;
};

EntrypointArg u32(uint64_t v) { return u32Arg(v); }
EntrypointArg resource(uint64_t shared_id) { return resourceArg(shared_id); }

// How the first reader and the first writer of a raw run moved their frames (their "moved"
// records): channel calls made, and how many of them found nothing to read or no room.
struct Moves {
  double reader_calls = 0, reader_waits = 0, writer_calls = 0, writer_waits = 0;
};

// One run of a flow: the readers are spawned and ready (strong readers open), then the clock
// starts, the writers are spawned, and it stops at the last reader's exit report (stamped on
// its worker right after it read its last frame). Spawning the writers (tens of microseconds)
// is inside the time. Across two workers with one reader and one writer, dies unless the
// engine placed them on different workers.
double seliumFlow(Harness& h, const Flow& f, Api api, Moves* moves = nullptr) {
  const auto& module = api == Api::Sdk ? h.sdk : h.raw;
  const uint64_t total = f.frames * static_cast<uint64_t>(f.writers);
  const uint64_t batched = f.batch > 1 ? 1 : 0;
  std::vector<kernel::ProcessId> readers;
  readers.push_back(h.spawn(module, "sink",
                            {u32(f.capacity), u32(total), u32(f.size), u32(batched)},
                            {Capability::ChannelLifecycle, Capability::ChannelReader}));
  uint64_t channel = uintField(h.waitRecord(readers[0], "ready"), "channel");
  for (int i = 1; i < f.readers; ++i) {
    readers.push_back(h.spawn(module, "tap",
                              {resource(channel), u32(total), u32(f.size), u32(batched)},
                              {Capability::ChannelReader}));
    h.waitRecord(readers.back(), "ready");
  }
  Clock::time_point start = Clock::now();
  std::vector<kernel::ProcessId> writers;
  for (int w = 0; w < f.writers; ++w) {
    writers.push_back(h.spawn(module, "source",
                              {resource(channel), u32(f.frames), u32(f.size), u32(f.batch),
                               u32(static_cast<uint64_t>(w))},
                              {Capability::ChannelWriter}));
  }
  Clock::time_point end = start;
  for (kernel::ProcessId pid : readers) end = std::max(end, h.exits.wait(pid));
  for (kernel::ProcessId pid : writers) h.exits.wait(pid);
  if (f.across && f.readers == 1 && f.writers == 1 &&
      h.threadOf(readers[0]) == h.threadOf(writers[0])) {
    die(f.name + ": the engine placed reader and writer on the same worker");
  }
  if (moves != nullptr) {  // raw guests only
    kernel::GuestLogRecord r = h.waitRecord(readers[0], "moved");
    kernel::GuestLogRecord w = h.waitRecord(writers[0], "moved");
    *moves = {
        static_cast<double>(uintField(r, "calls")), static_cast<double>(uintField(r, "waits")),
        static_cast<double>(uintField(w, "calls")), static_cast<double>(uintField(w, "waits"))};
  }
  for (std::size_t i = 1; i < readers.size(); ++i) {
    if (api == Api::Raw) h.waitRecord(readers[i], "moved");
  }
  for (std::size_t i = 1; i < writers.size(); ++i) {
    if (api == Api::Raw) h.waitRecord(writers[i], "moved");
  }
  return nanosBetween(start, end) / 1e9;
}

struct Rtt {
  double p50 = 0, p99 = 0, mean = 0;  // microseconds
};

// echo_server, then echo_client with its channels: the client times every round trip itself.
Rtt seliumRtt(Harness& h, uint32_t rounds, uint32_t warmup, bool across) {
  kernel::ProcessId server =
      h.spawn(h.sdk, "echo_server", {u32(rounds + warmup), u32(kSmall)},
              {Capability::ChannelLifecycle, Capability::ChannelReader, Capability::ChannelWriter});
  kernel::GuestLogRecord ready = h.waitRecord(server, "ready");
  kernel::ProcessId client =
      h.spawn(h.sdk, "echo_client",
              {resource(uintField(ready, "requests")), resource(uintField(ready, "replies")),
               u32(rounds + warmup), u32(warmup), u32(kSmall)},
              {Capability::ChannelReader, Capability::ChannelWriter, Capability::TimeRead});
  kernel::GuestLogRecord rtt = h.waitRecord(client, "rtt");
  h.exits.wait(client);
  h.exits.wait(server);
  if (across && h.threadOf(client) == h.threadOf(server)) {
    die("round trips: the engine placed client and server on the same worker");
  }
  return {uintField(rtt, "p50") / 1e3, uintField(rtt, "p99") / 1e3, uintField(rtt, "mean") / 1e3};
}

// ---- reference: two processes over a pipe ---------------------------------------------------

ssize_t writeAll(int fd, const uint8_t* data, std::size_t n) {
  for (std::size_t done = 0; done < n;) {
    ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    done += static_cast<std::size_t>(w);
  }
  return static_cast<ssize_t>(n);
}

bool readAll(int fd, uint8_t* data, std::size_t n) {
  for (std::size_t done = 0; done < n;) {
    ssize_t r = ::read(fd, data + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

struct ChildReport {
  int64_t end_ns = 0;  // steady_clock (CLOCK_MONOTONIC, common to both processes)
  uint64_t frames = 0;
};

// The parent writes the frames (u32 length before each) into a pipe whose buffer is the ring's
// capacity, `batch` frames per write(2); a forked child reads them, one read(2) per frame when
// the flow has one call per frame, else 256 KiB reads, checks every frame as the guests do, and
// sends back when it had the last one. Time: first write -> that moment (the child's exit is
// not counted). Buffers are allocated before the fork; the child only reads and writes.
double pipeFlow(const Flow& f) {
  int data[2], report[2];
  if (::pipe(data) != 0 || ::pipe(report) != 0) die("pipe failed");
  ::fcntl(data[1], F_SETPIPE_SZ, static_cast<int>(f.capacity));
  FrameBatch batch(f.size, f.batch, 0);
  const std::size_t stride = batch.stride();
  std::vector<uint8_t> in(f.batch > 1 ? readBufferFor(f.size) : stride);
  SeqCheck check(f.size);
  pid_t child = ::fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    ::close(data[1]);
    ::close(report[0]);
    ChildReport r;
    std::size_t carry = 0;  // bytes of a frame cut by the previous read
    while (r.frames < f.frames) {
      if (f.batch <= 1) {
        if (!readAll(data[0], in.data(), stride)) break;
        check.frame(in.data() + 4, load32(in.data()));
        ++r.frames;
        continue;
      }
      ssize_t n = ::read(data[0], in.data() + carry, in.size() - carry);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::size_t have = carry + static_cast<std::size_t>(n);
      std::size_t whole = have / stride * stride;
      r.frames += check.batch(in.data(), whole);
      carry = have - whole;
      std::memmove(in.data(), in.data() + whole, carry);
    }
    r.end_ns = Clock::now().time_since_epoch().count();
    bool ok = writeAll(report[1], reinterpret_cast<const uint8_t*>(&r), sizeof r) > 0;
    ::_exit(ok ? 0 : 1);
  }
  ::close(data[0]);
  ::close(report[1]);
  Clock::time_point start = Clock::now();
  for (uint64_t sent = 0; sent < f.frames;) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(f.batch, f.frames - sent));
    std::span<const uint8_t> bytes = batch.number(static_cast<uint32_t>(sent), n);
    if (writeAll(data[1], bytes.data(), bytes.size()) < 0) die("pipe write failed");
    sent += n;
  }
  ::close(data[1]);
  ChildReport r;
  bool got = readAll(report[0], reinterpret_cast<uint8_t*>(&r), sizeof r);
  ::close(report[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!got || r.frames != f.frames) die("pipe reader saw the wrong count");
  return static_cast<double>(r.end_ns - start.time_since_epoch().count()) / 1e9;
}

// Request/reply over two pipes: the parent writes a 32-byte request, the child reads it and
// writes it back; the parent times each round trip. Microseconds.
Rtt pipeRtt(uint32_t rounds, uint32_t warmup) {
  int there[2], back[2];
  if (::pipe(there) != 0 || ::pipe(back) != 0) die("pipe failed");
  std::vector<uint8_t> frame(kSmall, 7), reply(kSmall);
  std::vector<double> samples;
  samples.reserve(rounds);
  pid_t child = ::fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    ::close(there[1]);
    ::close(back[0]);
    for (uint32_t i = 0; i < rounds + warmup; ++i) {
      if (!readAll(there[0], reply.data(), kSmall)) ::_exit(1);
      if (writeAll(back[1], reply.data(), kSmall) < 0) ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(there[0]);
  ::close(back[1]);
  for (uint32_t i = 0; i < rounds + warmup; ++i) {
    store32(frame.data(), i);
    Clock::time_point start = Clock::now();
    if (writeAll(there[1], frame.data(), kSmall) < 0 || !readAll(back[0], reply.data(), kSmall)) {
      die("pipe round trip failed");
    }
    Clock::time_point end = Clock::now();
    if (reply != frame) die("pipe round trip: wrong reply");
    if (i >= warmup) samples.push_back(nanosBetween(start, end) / 1e3);
  }
  ::close(there[1]);
  ::close(back[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return {percentile(samples, 50), percentile(samples, 99), mean(samples)};
}

// ---- reference: an in-process queue ---------------------------------------------------------

// Writer and reader on the calling thread, alternating: a batch pushed, everything popped (one
// frame per push and pop when the flow has one call per frame).
double queueSameThread(const Flow& f) {
  FrameQueue queue(f.capacity);
  FrameBatch batch(f.size, f.batch, 0);
  std::vector<uint8_t> out(f.batch > 1 ? readBufferFor(f.size) : batch.stride());
  SeqCheck check(f.size);
  Clock::time_point start = Clock::now();
  for (uint64_t sent = 0; sent < f.frames;) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(f.batch, f.frames - sent));
    queue.push(batch.number(static_cast<uint32_t>(sent), n));
    sent += n;
    for (uint64_t got = 0; got < n;) got += check.batch(out.data(), queue.pop(out));
  }
  return nanosBetween(start, Clock::now()) / 1e9;
}

// Writers and readers on threads of their own; several readers each have a queue, and every
// writer pushes into each (a queue hands a frame to one reader, the channel to all).
double queueThreads(const Flow& f) {
  std::vector<std::unique_ptr<FrameQueue>> queues;
  for (int i = 0; i < f.readers; ++i) queues.push_back(std::make_unique<FrameQueue>(f.capacity));
  const uint64_t total = f.frames * static_cast<uint64_t>(f.writers);
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < f.readers; ++i) {
    threads.emplace_back([&, i] {
      std::vector<uint8_t> out(f.batch > 1 ? readBufferFor(f.size) : 4 + f.size);
      SeqCheck check(f.size);
      for (uint64_t read = 0; read < total;) read += check.batch(out.data(), queues[i]->pop(out));
    });
  }
  for (int w = 0; w < f.writers; ++w) {
    threads.emplace_back([&, w] {
      FrameBatch batch(f.size, f.batch, static_cast<uint32_t>(w));
      for (uint64_t sent = 0; sent < f.frames;) {
        uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(f.batch, f.frames - sent));
        std::span<const uint8_t> bytes = batch.number(static_cast<uint32_t>(sent), n);
        for (auto& q : queues) q->push(bytes);
        sent += n;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return nanosBetween(start, Clock::now()) / 1e9;
}

// Request/reply between two threads through two queues; the requesting thread times each
// round trip. Microseconds.
Rtt queueRtt(uint32_t rounds, uint32_t warmup) {
  FrameQueue there(4096), back(4096);
  FrameBatch request(kSmall, 1, 0);
  std::thread echo([&] {
    std::vector<uint8_t> frame(4 + kSmall);
    for (uint32_t i = 0; i < rounds + warmup; ++i)
      back.push(std::span(frame).first(there.pop(frame)));
  });
  std::vector<uint8_t> reply(4 + kSmall);
  std::vector<double> samples;
  samples.reserve(rounds);
  for (uint32_t i = 0; i < rounds + warmup; ++i) {
    std::span<const uint8_t> bytes = request.number(i, 1);
    Clock::time_point start = Clock::now();
    there.push(bytes);
    std::size_t n = back.pop(reply);
    Clock::time_point end = Clock::now();
    if (n != bytes.size() || std::memcmp(reply.data(), bytes.data(), n) != 0) {
      die("queue round trip: wrong reply");
    }
    if (i >= warmup) samples.push_back(nanosBetween(start, end) / 1e3);
  }
  echo.join();
  return {percentile(samples, 50), percentile(samples, 99), mean(samples)};
}

// ---- the report -----------------------------------------------------------------------------

std::string targetText(const Flow& f, double sdk, double raw, double pipe) {
  std::string out;
  auto verdict = [](double got, double want) {
    return got >= want ? std::string("met") : format("missed by %.0f%%", (1 - got / want) * 100);
  };
  if (f.target > 0) {
    out = (f.bytes ? format(">= %.0f GB/s: ", f.target / 1e9)
                   : format(">= %.0f M/s: ", f.target / 1e6)) +
          "SDK " + verdict(sdk, f.target) + ", raw " + verdict(raw, f.target);
  }
  if (f.pipe && f.writers == 1 && f.readers == 1 && pipe > 0) {
    if (!out.empty()) out += "; ";
    out += ">= 2x pipe: SDK " + verdict(sdk, 2 * pipe) + ", raw " + verdict(raw, 2 * pipe);
  }
  return out;
}

int run(const Options& o) {
  // A reader that never runs dry never returns to the host: across two workers one poll can
  // read for the whole run, past the engine's 100 ms "holding its worker" warning. Counted, not
  // printed.
  std::atomic<uint64_t> held{0};
  quietLog("its worker", &held);
  char pattern[] = "/tmp/selium-guest-channel-bench-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) die("mkdtemp failed");
  const fs::path tmp = pattern;

  // One engine per placement: one worker (reader and writer share it), and two (the engine
  // places each spawn on the least-loaded worker, so a reader and a writer spawned one after the
  // other land on different workers). Both run TurboFan code from the start: the first compiles
  // and waits for the tier-up, the second loads it from the compile cache.
  Harness one(1, tmp / "cache");
  one.awaitTurbofan();
  Harness two(2, tmp / "cache");
  two.awaitTurbofan();

  const double kM = 1e6, kG = 1e9;
  const uint64_t big = o.big_frames;
  std::vector<Flow> flows = {
      {"1->1 32 B, one worker, batches of 256", false, kSmall, 256, 1, 1, kRing, o.frames, 5 * kM},
      {"1->1 32 B, one worker, one call per frame", false, kSmall, 1, 1, 1, kRing, o.single_frames},
      {"1->1 32 B, two workers, batches of 256", true, kSmall, 256, 1, 1, kRing, o.frames, 1 * kM},
      {"1->1 32 B, two workers, one call per frame", true, kSmall, 1, 1, 1, kRing, o.single_frames,
       1 * kM},
      {"1->1 64 KiB, one worker, one call per frame", false, kBig, 1, 1, 1, 4 * kRing, big, 5 * kG,
       true},
      {"1->1 64 KiB, two workers, one call per frame", true, kBig, 1, 1, 1, 4 * kRing, big, 5 * kG,
       true},
      {"8->1 32 B, two workers, batches of 256", true, kSmall, 256, 8, 1, kRing, o.frames / 8, 0,
       false, false},
      {"1->8 32 B (each reader reads every frame), two workers, batches of 256", true, kSmall, 256,
       1, 8, kRing, o.frames / 4, 0, false, false},
  };

  Table table({"case", "Selium SDK", "Selium raw", "pipe, 2 processes", "queue, in-process",
               "SDK / pipe", "raw / pipe", "target"});
  Table diagnostics({"case (raw guests)", "frames per read call",
                     "reads that waited per 1000 frames", "frames per write call",
                     "writes that waited per 1000 frames"});
  for (const Flow& f : flows) {
    if (f.name.find(o.only) == std::string::npos) continue;
    Harness& h = f.across ? two : one;
    std::vector<double> sdk, raw, pipe, queue;
    std::vector<Moves> moves(static_cast<std::size_t>(o.reps));
    for (int rep = 0; rep < o.reps; ++rep) {  // interleaved, so drift hits all alike
      sdk.push_back(perSecond(f, seliumFlow(h, f, Api::Sdk)));
      raw.push_back(
          perSecond(f, seliumFlow(h, f, Api::Raw, &moves[static_cast<std::size_t>(rep)])));
      if (f.pipe) pipe.push_back(perSecond(f, pipeFlow(f)));
      bool threads = f.across || f.writers > 1 || f.readers > 1;
      queue.push_back(perSecond(f, threads ? queueThreads(f) : queueSameThread(f)));
    }
    double s = median(sdk), r = median(raw), q = median(queue);
    double p = f.pipe ? median(pipe) : 0;
    table.row({f.name, rateText(f, s), rateText(f, r), f.pipe ? rateText(f, p) : "-",
               rateText(f, q) +
                   (f.across || f.writers > 1 || f.readers > 1 ? " (threads)" : " (one thread)"),
               f.pipe ? format("%.2fx", s / p) : "-", f.pipe ? format("%.2fx", r / p) : "-",
               targetText(f, s, r, p)});
    // Per run: frames one reader read (all of them) and one writer wrote, per call and per wait.
    auto ratio = [&](double Moves::*field, double frames) {
      std::vector<double> v;
      for (const Moves& m : moves) v.push_back(m.*field / frames);
      return median(v);
    };
    const double read = static_cast<double>(f.frames * static_cast<uint64_t>(f.writers));
    const double written = static_cast<double>(f.frames);
    diagnostics.row({f.name, format("%.1f", 1 / ratio(&Moves::reader_calls, read)),
                     format("%.2f", 1000 * ratio(&Moves::reader_waits, read)),
                     format("%.1f", 1 / ratio(&Moves::writer_calls, written)),
                     format("%.2f", 1000 * ratio(&Moves::writer_waits, written))});
  }
  table.print();
  std::printf(
      "\nFrames (or bytes) delivered per second, medians of %d runs, Selium and references "
      "interleaved. SDK: the C++ SDK's Writer/Reader (a Task per call; Batch and readBatch for "
      "batches); raw: C on the channel hostcalls, no tasks. Ring 1 MiB (4 MiB for 64 KiB "
      "frames); the pipe's buffer is set to the same size and the queue bounded to it. Every "
      "reader checks every frame's size and sequence.\n\n",
      o.reps);
  diagnostics.print();
  std::printf(
      "\nHow the raw guests moved the frames (medians; the first reader and writer of a case): "
      "frames per channel call, and calls that returned WouldBlock (the guest then waits for its "
      "waker) per 1000 frames.\n");

  if (std::string("request/reply, 32 B").find(o.only) != std::string::npos) {
    const uint32_t warmup = o.rounds / 10;
    Table rtt({"request/reply, 32 B", "p50", "p99", "mean", "p50 / pipe p50"});
    std::vector<double> p50[4], p99[4], avg[4];
    for (int rep = 0; rep < o.reps; ++rep) {
      Rtt runs[4] = {seliumRtt(one, o.rounds, warmup, false),
                     seliumRtt(two, o.rounds, warmup, true), pipeRtt(o.rounds, warmup),
                     queueRtt(o.rounds, warmup)};
      for (int i = 0; i < 4; ++i) {
        p50[i].push_back(runs[i].p50);
        p99[i].push_back(runs[i].p99);
        avg[i].push_back(runs[i].mean);
      }
    }
    const char* names[4] = {"Selium SDK, one worker", "Selium SDK, two workers",
                            "pipe, 2 processes (reference)", "queue, 2 threads (reference)"};
    for (int i = 0; i < 4; ++i) {
      rtt.row({names[i], format("%.1f us", median(p50[i])), format("%.1f us", median(p99[i])),
               format("%.1f us", median(avg[i])),
               format("%.2fx", median(p50[i]) / median(p50[2]))});
    }
    std::printf("\n");
    rtt.print();
    std::printf(
        "\n%u round trips per run after %u warm-up ones, each timed by the requester (the "
        "client guest with the monotonic clock, the parent process, the requesting thread); "
        "medians over %d runs of each run's percentiles.\n",
        o.rounds, warmup, o.reps);
  }

  if (held > 0) {
    std::printf(
        "\n(%llu warnings that a guest call held its worker over the engine's 100 ms threshold: "
        "a reader or writer that never has to wait never returns to the host; not printed.)\n",
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
