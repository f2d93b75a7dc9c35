// Kernel channel throughput (kernel/channel.h, no engine, no guests) against two references
// measured in the same run: two processes over a pipe, and a mutex-guarded queue of frames
// between threads of this process, moving the same bytes. See bench/README.md.
//
//   channel_bench [--frames 8000000] [--big-frames 40000] [--reps 5]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "frame_queue.h"
#include "kernel/channel.h"

namespace selium::bench {
namespace {

using kernel::Backpressure;
using kernel::Channel;
using kernel::ChannelReader;
using kernel::ChannelStatus;
using kernel::ChannelWriter;
using kernel::Strength;
using kernel::Waiter;
using kernel::Waker;

struct Options {
  uint64_t frames = 8'000'000;   // 32-byte frames per case
  uint64_t big_frames = 40'000;  // 64 KiB frames per case
  int reps = 5;
};

Options parseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--frames" && i + 1 < argc) {
      options.frames = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--big-frames" && i + 1 < argc) {
      options.big_frames = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--reps" && i + 1 < argc) {
      options.reps = std::atoi(argv[++i]);
    } else {
      die("usage: channel_bench [--frames N] [--big-frames N] [--reps R]");
    }
  }
  if (options.frames < 8 * 256 || options.big_frames < 64 || options.reps < 1) {
    die("--frames at least 2048, --big-frames at least 64, --reps at least 1");
  }
  // Whole batches for every writer of every case.
  options.frames -= options.frames % 2048;
  options.big_frames -= options.big_frames % 64;
  return options;
}

// One case's shape: `writers` threads each write `frames / writers` frames of `size` bytes in
// batches of `batch`; `readers` strong readers each read every frame. Ring of `capacity` bytes.
struct Shape {
  std::size_t size;
  std::size_t batch;
  int writers;
  int readers;
  std::size_t capacity;
  uint64_t frames;
};

// A batch of `count` frames of `size` bytes (u32 LE length, then bytes), the wire format of
// writeBatch and of the references.
std::vector<uint8_t> makeBatch(std::size_t count, std::size_t size) {
  std::vector<uint8_t> batch;
  batch.reserve(count * (4 + size));
  for (std::size_t i = 0; i < count; ++i) {
    uint32_t n = static_cast<uint32_t>(size);
    uint8_t header[4];
    std::memcpy(header, &n, 4);
    batch.insert(batch.end(), header, header + 4);
    for (std::size_t j = 0; j < size; ++j) batch.push_back(static_cast<uint8_t>(i + j));
  }
  return batch;
}

// Frames in a batch of `bytes` (its lengths walked, as a consumer would).
uint64_t countFrames(const uint8_t* data, std::size_t bytes) {
  uint64_t frames = 0;
  for (std::size_t at = 0; at < bytes; ++frames) {
    uint32_t n;
    std::memcpy(&n, data + at, 4);
    at += 4 + n;
  }
  return frames;
}

// A thread's wake-ups from the channel: the waker sets a flag and signals a condition variable.
class Signal : public kernel::WakeTarget {
 public:
  void wakeFromAnyThread(kernel::ProcessId, int32_t) override {
    {
      std::lock_guard lock(mutex_);
      fired_ = true;
    }
    cv_.notify_one();
  }
  void reset() {
    std::lock_guard lock(mutex_);
    fired_ = false;
  }
  void wait() {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, std::chrono::seconds(60), [&] { return fired_; })) {
      die("a channel wait was never woken");
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool fired_ = false;
};

// ---- the channel ----------------------------------------------------------------------------

// Writer and reader on the calling thread, alternating one batch each.
double channelSameThread(const Shape& shape) {
  auto ch = Channel::create(shape.capacity, Backpressure::Park);
  auto reader = ChannelReader::open(ch, Strength::Strong);
  auto writer = ChannelWriter::open(ch, Strength::Strong);
  Waiter rw, ww;
  std::vector<uint8_t> batch = makeBatch(shape.batch, shape.size);
  std::vector<uint8_t> out(batch.size());
  uint64_t seen = 0;
  Clock::time_point start = Clock::now();
  for (uint64_t done = 0; done < shape.frames; done += shape.batch) {
    kernel::WriteResult w = writer->writeBatch(batch, ww, {});
    kernel::ReadResult r = reader->readBatch(out, rw, {});
    if (w.frames != shape.batch || r.frames != shape.batch) die("same-thread batch fell short");
    seen += out[4];
  }
  double seconds = nanosBetween(start, Clock::now()) / 1e9;
  if (seen != 0) die("unexpected frame contents");
  return seconds;
}

void channelWriterThread(ChannelWriter& writer, const Shape& shape, uint64_t frames, int id) {
  auto signal = std::make_shared<Signal>();
  Waker waker{signal, static_cast<kernel::ProcessId>(id), 1};
  Waiter waiter;
  std::vector<uint8_t> batch = makeBatch(shape.batch, shape.size);
  const std::size_t frame_bytes = 4 + shape.size;
  std::size_t offset = 0;  // into batch: frames of it already written
  for (uint64_t written = 0; written < frames;) {
    std::size_t left = std::min<uint64_t>(frames - written, (batch.size() - offset) / frame_bytes);
    std::span<const uint8_t> part(batch.data() + offset, left * frame_bytes);
    signal->reset();
    kernel::WriteResult res = writer.writeBatch(part, waiter, waker);
    if (res.status == ChannelStatus::WouldBlock) {
      signal->wait();
      continue;
    }
    if (res.status != ChannelStatus::Ok) die("channel write failed");
    written += res.frames;
    offset += res.frames * frame_bytes;
    if (offset == batch.size()) offset = 0;
  }
}

void channelReaderThread(ChannelReader& reader, uint64_t frames, int id) {
  auto signal = std::make_shared<Signal>();
  Waker waker{signal, static_cast<kernel::ProcessId>(1000 + id), 1};
  Waiter waiter;
  std::vector<uint8_t> out(256 * 1024);
  for (uint64_t read = 0; read < frames;) {
    signal->reset();
    kernel::ReadResult res = reader.readBatch(out, waiter, waker);
    if (res.status == ChannelStatus::WouldBlock) {
      signal->wait();
      continue;
    }
    if (res.status != ChannelStatus::Ok) die("channel read failed");
    read += countFrames(out.data(), res.bytes);
  }
}

// Writers and readers on threads of their own; a thread that gets WouldBlock sleeps until its
// waker fires.
double channelThreads(const Shape& shape) {
  auto ch = Channel::create(shape.capacity, Backpressure::Park);
  std::vector<std::shared_ptr<ChannelReader>> readers;
  for (int i = 0; i < shape.readers; ++i) {
    readers.push_back(ChannelReader::open(ch, Strength::Strong));
  }
  uint64_t per_writer = shape.frames / shape.writers;
  uint64_t total = per_writer * shape.writers;
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < shape.readers; ++i) {
    threads.emplace_back([&, i] { channelReaderThread(*readers[i], total, i); });
  }
  for (int i = 0; i < shape.writers; ++i) {
    threads.emplace_back([&, i] {
      auto writer = ChannelWriter::open(ch, Strength::Strong);
      channelWriterThread(*writer, shape, per_writer, i);
    });
  }
  for (std::thread& t : threads) t.join();
  return nanosBetween(start, Clock::now()) / 1e9;
}

// ---- reference: a mutex-guarded queue of frames (frame_queue.h) ---------------------------

double queueSameThread(const Shape& shape) {
  FrameQueue queue(shape.capacity);
  std::vector<uint8_t> batch = makeBatch(shape.batch, shape.size);
  std::vector<uint8_t> out(batch.size());
  Clock::time_point start = Clock::now();
  for (uint64_t done = 0; done < shape.frames; done += shape.batch) {
    queue.push(batch);
    if (queue.pop(out) != batch.size()) die("queue batch fell short");
  }
  return nanosBetween(start, Clock::now()) / 1e9;
}

// Several readers: each has a queue of its own and every writer pushes into each (a queue hands
// each frame to one reader; the channel to all).
double queueThreads(const Shape& shape) {
  std::vector<std::unique_ptr<FrameQueue>> queues;
  for (int i = 0; i < shape.readers; ++i) {
    queues.push_back(std::make_unique<FrameQueue>(shape.capacity));
  }
  uint64_t per_writer = shape.frames / shape.writers;
  uint64_t total = per_writer * shape.writers;
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < shape.readers; ++i) {
    threads.emplace_back([&, i] {
      std::vector<uint8_t> out(256 * 1024);
      for (uint64_t read = 0; read < total;) {
        std::size_t bytes = queues[i]->pop(out);
        read += countFrames(out.data(), bytes);
      }
    });
  }
  for (int i = 0; i < shape.writers; ++i) {
    threads.emplace_back([&] {
      std::vector<uint8_t> batch = makeBatch(shape.batch, shape.size);
      const std::size_t frame_bytes = 4 + shape.size;
      for (uint64_t written = 0; written < per_writer;) {
        uint64_t n = std::min<uint64_t>(per_writer - written, shape.batch);
        for (auto& q : queues) q->push(std::span(batch).first(n * frame_bytes));
        written += n;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return nanosBetween(start, Clock::now()) / 1e9;
}

// ---- reference: two processes over a pipe ---------------------------------------------------

// The parent writes the batches into a pipe (its buffer set to the ring's capacity); a forked
// child reads them in 256 KiB reads and walks the frame lengths. Time: first write to the
// child's exit.
double pipeProcesses(const Shape& shape) {
  int fds[2];
  if (::pipe(fds) != 0) die("pipe failed");
  ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(shape.capacity));
  std::vector<uint8_t> batch = makeBatch(shape.batch, shape.size);
  const std::size_t frame_bytes = 4 + shape.size;
  const uint64_t total_bytes = shape.frames / shape.batch * batch.size();
  pid_t child = ::fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    ::close(fds[1]);
    std::vector<uint8_t> in(256 * 1024);
    uint64_t got = 0, frames = 0;
    std::size_t carry = 0;  // bytes of a frame cut by the previous read
    for (;;) {
      ssize_t n = ::read(fds[0], in.data() + carry, in.size() - carry);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<uint64_t>(n);
      std::size_t have = carry + static_cast<std::size_t>(n);
      std::size_t whole = have / frame_bytes * frame_bytes;
      frames += countFrames(in.data(), whole);
      carry = have - whole;
      std::memmove(in.data(), in.data() + whole, carry);
    }
    ::_exit(got == total_bytes && frames == shape.frames / shape.batch * shape.batch ? 0 : 1);
  }
  ::close(fds[0]);
  Clock::time_point start = Clock::now();
  for (uint64_t sent = 0; sent < total_bytes;) {
    std::size_t at = sent % batch.size();
    ssize_t n = ::write(fds[1], batch.data() + at, batch.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("pipe write failed");
    sent += static_cast<uint64_t>(n);
  }
  ::close(fds[1]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  double seconds = nanosBetween(start, Clock::now()) / 1e9;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("pipe reader saw the wrong count");
  return seconds;
}

// ---- the report -----------------------------------------------------------------------------

struct Case {
  std::string name;
  Shape shape;
  double (*channel)(const Shape&);
  double (*reference)(const Shape&);
  std::string reference_name;
  bool bytes;  // report GB/s instead of frames/s
};

std::string rate(const Case& c, double seconds) {
  // Frames delivered: each reader gets every frame.
  double frames = static_cast<double>(c.shape.frames) * c.shape.readers;
  if (c.bytes) {
    return format("%.2f GB/s", frames * static_cast<double>(c.shape.size) / seconds / 1e9);
  }
  return format("%.2f M frames/s", frames / seconds / 1e6);
}

int run(const Options& o) {
  const std::size_t kSmall = 32, kBig = 64 * 1024;
  const std::size_t kRing = 1 << 20;
  std::vector<Case> cases = {
      {"1->1 32 B, one thread, batches of 256",
       {kSmall, 256, 1, 1, kRing, o.frames},
       channelSameThread,
       queueSameThread,
       "mutex+deque queue, one thread",
       false},
      {"1->1 32 B, two threads, batches of 256",
       {kSmall, 256, 1, 1, kRing, o.frames},
       channelThreads,
       pipeProcesses,
       "pipe between two processes",
       false},
      {"1->1 32 B, two threads (queue reference)",
       {kSmall, 256, 1, 1, kRing, o.frames},
       channelThreads,
       queueThreads,
       "mutex+deque queue, two threads",
       false},
      {"1->1 64 KiB, one thread, batches of 4",
       {kBig, 4, 1, 1, 4 * kRing, o.big_frames},
       channelSameThread,
       queueSameThread,
       "mutex+deque queue, one thread",
       true},
      {"1->1 64 KiB, two threads, batches of 4",
       {kBig, 4, 1, 1, 4 * kRing, o.big_frames},
       channelThreads,
       pipeProcesses,
       "pipe between two processes",
       true},
      {"8->1 32 B, batches of 256",
       {kSmall, 256, 8, 1, kRing, o.frames},
       channelThreads,
       queueThreads,
       "mutex+deque queue, 8 writer threads",
       false},
      {"1->8 32 B, batches of 256 (every reader reads every frame)",
       {kSmall, 256, 1, 8, kRing, o.frames / 4},
       channelThreads,
       queueThreads,
       "a mutex+deque queue per reader",
       false},
  };

  Table table({"case", "channel", "reference", "reference figure", "channel / reference"});
  for (const Case& c : cases) {
    std::vector<double> mine, theirs;
    for (int rep = 0; rep < o.reps; ++rep) {  // interleaved, so drift hits both alike
      mine.push_back(c.channel(c.shape));
      theirs.push_back(c.reference(c.shape));
    }
    double a = median(mine), b = median(theirs);
    table.row({c.name, rate(c, a), c.reference_name, rate(c, b), format("%.2fx", b / a)});
  }
  table.print();
  std::printf(
      "\nMedians of %d runs (channel and reference interleaved). Ring: 1 MiB (4 MiB for 64 KiB "
      "frames); the pipe's buffer is set to the same size, the queue is bounded to it. The ratio "
      "is throughput over the reference's (higher: the channel is faster).\n",
      o.reps);
  return 0;
}

}  // namespace
}  // namespace selium::bench

int main(int argc, char** argv) {
  return selium::bench::run(selium::bench::parseOptions(argc, argv));
}
