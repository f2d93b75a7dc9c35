// WASI preview 1 through the real dispatcher: a real Process, a byte vector as guest memory,
// hostile pointers and iovecs included.
#include "kernel/drivers/wasi/wasi_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/wasi.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <set>

namespace selium::kernel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int32_t kSuccess = SELIUM_WASI_ERRNO_SUCCESS;
constexpr int32_t kBadFd = SELIUM_WASI_ERRNO_BADF;
constexpr int32_t kFault = SELIUM_WASI_ERRNO_FAULT;
constexpr int32_t kInval = SELIUM_WASI_ERRNO_INVAL;
constexpr int32_t kNoSys = SELIUM_WASI_ERRNO_NOSYS;
constexpr int32_t kNotSup = SELIUM_WASI_ERRNO_NOTSUP;
constexpr int32_t kSpipe = SELIUM_WASI_ERRNO_SPIPE;
constexpr int32_t kNotCapable = SELIUM_WASI_ERRNO_NOTCAPABLE;

class NoHost : public ProcessHost {
 public:
  void wake(ProcessId, int32_t) override {}
};

class WasiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::configure(log::Format::Text, log::Filter{},
                   [this](std::string_view line) { runtime_log.emplace_back(line); });
  }
  void TearDown() override {
    log::configure(log::Format::Text, log::Filter{}, [](std::string_view) {});
  }

  std::unique_ptr<Process> makeProcess(std::initializer_list<Capability> caps = {},
                                       std::vector<std::string> argv = {"wasi.wasm"},
                                       std::vector<std::string> env = {}) {
    ProcessConfig config;
    config.id = 9;
    config.module = "wasi.wasm";
    for (Capability c : caps) config.capabilities.add(c);
    config.argv = std::move(argv);
    config.env = std::move(env);
    return std::make_unique<Process>(
        std::move(config), loop_, host_,
        [this](const Process&, const GuestLogRecord& r) { records.push_back(r); });
  }

  // Calls WASI function `name` with wasm arguments given as int64 (narrowed to each param's
  // type); returns the errno (0 for a call without a result).
  int64_t call(Process& process, std::string_view name, std::vector<int64_t> values) {
    const HostcallSpec* spec = findHostcall(SELIUM_WASI_IMPORT_MODULE, name);
    EXPECT_NE(spec, nullptr) << name;
    if (spec == nullptr) return -1;
    EXPECT_EQ(spec->params.size(), values.size()) << name;
    std::vector<WasmValue> args(spec->params.size());
    for (std::size_t i = 0; i < args.size() && i < values.size(); ++i) {
      if (spec->params[i] == WasmType::I64) {
        args[i].i64 = values[i];
      } else {
        args[i].i32 = static_cast<int32_t>(values[i]);
      }
    }
    CallContext ctx{process, memory};
    return dispatchHostcall(*spec, ctx, args.data());
  }

  uint32_t u32At(uint32_t address) const {
    uint32_t v;
    std::memcpy(&v, memory.data() + address, 4);
    return v;
  }
  uint64_t u64At(uint32_t address) const {
    uint64_t v;
    std::memcpy(&v, memory.data() + address, 8);
    return v;
  }
  void putU32(uint32_t address, uint32_t v) { std::memcpy(memory.data() + address, &v, 4); }
  void putText(uint32_t address, std::string_view text) {
    std::memcpy(memory.data() + address, text.data(), text.size());
  }
  // An iovec {buf, len} at `address`.
  void putIovec(uint32_t address, uint32_t buf, uint32_t len) {
    putU32(address, buf);
    putU32(address + 4, len);
  }
  std::string textAt(uint32_t address, std::size_t n) const {
    return {reinterpret_cast<const char*>(memory.data() + address), n};
  }

  std::size_t runtimeLogCount(std::string_view needle) const {
    return std::count_if(runtime_log.begin(), runtime_log.end(),
                         [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }

  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.message);
    return out;
  }

  uint32_t size() const { return static_cast<uint32_t>(memory.size()); }

  boost::asio::io_context loop_;
  NoHost host_;
  std::vector<uint8_t> memory = std::vector<uint8_t>(65536);
  std::vector<GuestLogRecord> records;
  std::vector<std::string> runtime_log;
};

TEST_F(WasiTest, TableListsEveryPreview1FunctionWithItsSignature) {
  struct Expected {
    std::string_view name;
    uint32_t capability;
  };
  std::vector<Expected> expected = {
#define SELIUM_EXPECTED_(name, cap, ret, decl) {#name, cap},
      SELIUM_WASI_CALLS(SELIUM_EXPECTED_)
#undef SELIUM_EXPECTED_
  };
  auto table = hostcallTable(SELIUM_WASI_IMPORT_MODULE);
  ASSERT_EQ(table.size(), 46u);  // every function of wasi_snapshot_preview1
  ASSERT_EQ(table.size(), expected.size());
  std::size_t first = hostcallTable(SELIUM_IMPORT_MODULE).size();
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(table[i].index, first + i);  // one index space after the selium table
    EXPECT_EQ(&hostcallTable()[first + i], &table[i]);
    EXPECT_EQ(table[i].module, SELIUM_WASI_IMPORT_MODULE);
    EXPECT_EQ(table[i].name, expected[i].name);
    EXPECT_EQ(table[i].capability, expected[i].capability) << table[i].name;
    EXPECT_EQ(table[i].denied, kNotCapable);
    EXPECT_EQ(findHostcall(SELIUM_WASI_IMPORT_MODULE, table[i].name), &table[i]);
    if (table[i].name != "proc_exit") {
      EXPECT_EQ(table[i].result, WasmType::I32) << table[i].name;
    }
  }
  // Names do not leak across modules.
  EXPECT_EQ(findHostcall(SELIUM_WASI_IMPORT_MODULE, "time_now"), nullptr);
  EXPECT_EQ(findHostcall(SELIUM_IMPORT_MODULE, "fd_write"), nullptr);
  EXPECT_EQ(findHostcall("wasi_unstable", "fd_write"), nullptr);
  EXPECT_TRUE(hostcallTable("env").empty());

  const HostcallSpec* exit = findHostcall(SELIUM_WASI_IMPORT_MODULE, "proc_exit");
  EXPECT_FALSE(exit->result.has_value());
  const HostcallSpec* open = findHostcall(SELIUM_WASI_IMPORT_MODULE, "path_open");
  using T = WasmType;
  EXPECT_THAT(std::vector<WasmType>(open->params.begin(), open->params.end()),
              ElementsAre(T::I32, T::I32, T::I32, T::I32, T::I32, T::I64, T::I64, T::I32, T::I32));
  const HostcallSpec* time = findHostcall(SELIUM_WASI_IMPORT_MODULE, "clock_time_get");
  EXPECT_THAT(std::vector<WasmType>(time->params.begin(), time->params.end()),
              ElementsAre(T::I32, T::I64, T::I32));
  EXPECT_EQ(time->capability, static_cast<uint32_t>(Capability::TimeRead));
  EXPECT_EQ(findHostcall(SELIUM_WASI_IMPORT_MODULE, "sched_yield")->params.size(), 0u);
}

// Whatever the arguments, every call returns an errno and stays inside guest memory (run under
// ASan in the asan preset).
TEST_F(WasiTest, EveryCallAnswersHostileArgumentsWithAnErrno) {
  for (int64_t value : {int64_t{0}, int64_t{-1}, int64_t{INT32_MIN}, int64_t{65535}, int64_t{65536},
                        int64_t{0x7FFFFFFF}}) {
    for (bool granted : {false, true}) {
      auto process =
          granted ? makeProcess({Capability::TimeRead}, {"w", "a"}, {"A=1"}) : makeProcess();
      for (const HostcallSpec& spec : hostcallTable(SELIUM_WASI_IMPORT_MODULE)) {
        std::vector<int64_t> args(spec.params.size(), value);
        int64_t result = call(*process, spec.name, args);
        EXPECT_GE(result, 0) << spec.name << " " << value;
        EXPECT_LE(result, 76) << spec.name << " " << value;
      }
    }
  }
}

TEST_F(WasiTest, FdWriteTurnsLinesIntoRecordsPerStream) {
  auto process = makeProcess();
  putText(1000, "hello, ");
  putText(2000, "world\npartial");
  putIovec(100, 1000, 7);
  putIovec(108, 2000, 13);
  putU32(200, 0xDEADBEEF);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 2, 200}), kSuccess);
  EXPECT_EQ(u32At(200), 20u);
  EXPECT_THAT(messages(), ElementsAre("hello, world"));
  putText(3000, "on stderr\n");
  putIovec(120, 3000, 10);
  EXPECT_EQ(call(*process, "fd_write", {2, 120, 1, 200}), kSuccess);
  EXPECT_EQ(u32At(200), 10u);
  // Zero iovecs: nothing written, still success.
  EXPECT_EQ(call(*process, "fd_write", {1, 0, 0, 200}), kSuccess);
  EXPECT_EQ(u32At(200), 0u);
  process->releaseResources();  // "partial" is not lost
  EXPECT_THAT(messages(), ElementsAre("hello, world", "on stderr", "partial"));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(std::get<std::string>(records[1].fields.at(0).value), "stderr");
  EXPECT_EQ(std::get<std::string>(records[2].fields.at(0).value), "stdout");
}

TEST_F(WasiTest, FdWriteOnlyToStdoutAndStderr) {
  auto process = makeProcess();
  putText(1000, "x\n");
  putIovec(100, 1000, 2);
  for (int64_t fd : {0, 3, -1, 1000}) {
    EXPECT_EQ(call(*process, "fd_write", {fd, 100, 1, 200}), kBadFd) << fd;
  }
  EXPECT_THAT(process->lastError(), HasSubstr("fd_write: fd 1000 is not open for writing"));
  EXPECT_TRUE(records.empty());
}

TEST_F(WasiTest, FdWriteRejectsHostileIovecsWithoutWritingAnything) {
  auto process = makeProcess();
  putText(1000, "never\n");
  // The iovec array itself outside memory, or wrapping around 4 GiB.
  EXPECT_EQ(call(*process, "fd_write", {1, size() - 4, 1, 200}), kFault);
  EXPECT_EQ(call(*process, "fd_write", {1, 0xFFFFFFFC, 1, 200}), kFault);
  // A count whose byte size wraps a 32-bit product (0x20000000 * 8 == 2^32) is refused.
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 0x20000000, 200}), kInval);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 0xFFFFFFFF, 200}), kInval);
  // The largest accepted count still has to fit in memory.
  EXPECT_EQ(call(*process, "fd_write", {1, size() - 8 * 1023, 1024, 200}), kFault);
  // One good iovec, then one whose buffer wraps around 4 GiB or runs past the end.
  putIovec(100, 1000, 6);
  putIovec(108, 0xFFFFFFF0, 0x20);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 2, 200}), kFault);
  putIovec(108, size() - 1, 2);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 2, 200}), kFault);
  putIovec(108, 0, 0xFFFFFFFF);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 2, 200}), kFault);
  // Good iovecs, but nowhere to put the count.
  putIovec(108, 1000, 0);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 2, size() - 3}), kFault);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 2, 0xFFFFFFFF}), kFault);
  process->releaseResources();
  EXPECT_TRUE(records.empty());  // nothing of "never" reached the log
  // An iovec that ends exactly at the end of memory is fine.
  putText(size() - 3, "end");
  putIovec(100, size() - 3, 3);
  auto other = makeProcess();
  EXPECT_EQ(call(*other, "fd_write", {1, 100, 1, 200}), kSuccess);
  other->releaseResources();
  EXPECT_THAT(messages(), ElementsAre("end"));
}

TEST_F(WasiTest, FdWriteAcceptsABoundedAmountPerCall) {
  memory.assign(4 * 1024 * 1024, 'y');
  auto process = makeProcess();
  // Two iovecs of 768 KiB: the call takes 1 MiB and says so; libc writes the rest again.
  putIovec(100, 4096, 768 * 1024);
  putIovec(108, 4096, 768 * 1024);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 2, 200}), kSuccess);
  EXPECT_EQ(u32At(200), wasi::kMaxWriteBytes);
  process->releaseResources();
  std::size_t total = 0;
  for (const auto& r : records) total += r.message.size();
  EXPECT_EQ(total, wasi::kMaxWriteBytes);
}

TEST_F(WasiTest, StdinIsAtEndOfFile) {
  auto process = makeProcess();
  putIovec(100, 1000, 64);
  putU32(200, 0xDEADBEEF);
  EXPECT_EQ(call(*process, "fd_read", {0, 100, 1, 200}), kSuccess);
  EXPECT_EQ(u32At(200), 0u);
  EXPECT_EQ(call(*process, "fd_read", {1, 100, 1, 200}), kBadFd);
  EXPECT_EQ(call(*process, "fd_read", {3, 100, 1, 200}), kBadFd);
  putIovec(100, 0xFFFFFFF0, 0x20);  // wraps
  EXPECT_EQ(call(*process, "fd_read", {0, 100, 1, 200}), kFault);
  putIovec(100, 1000, 64);
  EXPECT_EQ(call(*process, "fd_read", {0, 100, 1, size()}), kFault);
  EXPECT_EQ(call(*process, "fd_read", {0, 100, 5000, 200}), kInval);
}

TEST_F(WasiTest, StandardStreamsAreCharacterDevicesWithoutSeek) {
  auto process = makeProcess();
  for (int32_t fd : {0, 1, 2}) {
    std::memset(memory.data() + 1000, 0xAA, 24);
    ASSERT_EQ(call(*process, "fd_fdstat_get", {fd, 1000}), kSuccess) << fd;
    EXPECT_EQ(memory[1000], SELIUM_WASI_FILETYPE_CHARACTER_DEVICE);
    EXPECT_EQ(memory[1001], 0);  // padding is zeroed
    EXPECT_EQ(u32At(1002) & 0xFFFF, 0u);
    uint64_t rights = u64At(1008);
    EXPECT_EQ(rights & (SELIUM_WASI_RIGHT_FD_SEEK | SELIUM_WASI_RIGHT_FD_TELL), 0u);
    EXPECT_NE(rights & (fd == 0 ? SELIUM_WASI_RIGHT_FD_READ : SELIUM_WASI_RIGHT_FD_WRITE), 0u);
    EXPECT_EQ(u64At(1016), 0u);

    std::memset(memory.data() + 2000, 0xAA, 64);
    ASSERT_EQ(call(*process, "fd_filestat_get", {fd, 2000}), kSuccess) << fd;
    EXPECT_EQ(u64At(2000), 0u);
    EXPECT_EQ(memory[2016], SELIUM_WASI_FILETYPE_CHARACTER_DEVICE);
    EXPECT_EQ(u64At(2024), 1u);  // nlink
    EXPECT_EQ(u64At(2032), 0u);  // size
    EXPECT_EQ(u64At(2056), 0u);  // ctim
  }
  EXPECT_EQ(call(*process, "fd_fdstat_get", {3, 1000}), kBadFd);
  EXPECT_EQ(call(*process, "fd_filestat_get", {-1, 1000}), kBadFd);
  EXPECT_EQ(call(*process, "fd_fdstat_get", {1, size() - 23}), kFault);
  EXPECT_EQ(call(*process, "fd_filestat_get", {1, 0xFFFFFFF0}), kFault);
  // Seeking, telling and closing a stream.
  for (int32_t fd : {0, 1, 2}) {
    EXPECT_EQ(call(*process, "fd_seek", {fd, 0, 0, 1000}), kSpipe);
    EXPECT_EQ(call(*process, "fd_tell", {fd, 1000}), kSpipe);
    EXPECT_EQ(call(*process, "fd_close", {fd}), kNotSup);
  }
  EXPECT_EQ(call(*process, "fd_seek", {3, 0, 0, 1000}), kBadFd);
  EXPECT_EQ(call(*process, "fd_tell", {7, 1000}), kBadFd);
  EXPECT_EQ(call(*process, "fd_close", {3}), kBadFd);
  // Closing did not close: stdout still writes.
  putText(3000, "still\n");
  putIovec(100, 3000, 6);
  EXPECT_EQ(call(*process, "fd_write", {1, 100, 1, 200}), kSuccess);
  EXPECT_THAT(messages(), ElementsAre("still"));
}

TEST_F(WasiTest, NoPreopenedDirectories) {
  auto process = makeProcess();
  for (int32_t fd : {0, 1, 2, 3, 4, 100}) {
    EXPECT_EQ(call(*process, "fd_prestat_get", {fd, 1000}), kBadFd) << fd;
    EXPECT_EQ(call(*process, "fd_prestat_dir_name", {fd, 1000, 16}), kBadFd) << fd;
  }
  EXPECT_EQ(runtimeLogCount("WASI call not supported"), 0u);  // an answer, not a gap
}

TEST_F(WasiTest, ArgsAreCopiedWithPointersAndTerminators) {
  auto process = makeProcess({}, {"wasi.wasm", "one", "", "h\xC3\xA9"});
  EXPECT_EQ(call(*process, "args_sizes_get", {100, 104}), kSuccess);
  EXPECT_EQ(u32At(100), 4u);
  EXPECT_EQ(u32At(104), 10u + 4u + 1u + 4u);
  EXPECT_EQ(call(*process, "args_get", {200, 1000}), kSuccess);
  EXPECT_EQ(u32At(200), 1000u);
  EXPECT_EQ(u32At(204), 1010u);
  EXPECT_EQ(u32At(208), 1014u);
  EXPECT_EQ(u32At(212), 1015u);
  EXPECT_EQ(textAt(1000, 19), std::string("wasi.wasm\0one\0\0h\xC3\xA9\0", 19));
}

TEST_F(WasiTest, ArgsWithBadPointersWriteNothing) {
  auto process = makeProcess({}, {"wasi.wasm", "one"});
  EXPECT_EQ(call(*process, "args_sizes_get", {size() - 2, 104}), kFault);
  EXPECT_EQ(call(*process, "args_sizes_get", {100, 0xFFFFFFFE}), kFault);
  // The pointer array fits, the strings do not: neither is written.
  putU32(200, 0x11111111);
  EXPECT_EQ(call(*process, "args_get", {200, size() - 5}), kFault);
  EXPECT_EQ(u32At(200), 0x11111111u);
  EXPECT_EQ(call(*process, "args_get", {200, 0xFFFFFFFA}), kFault);  // wraps
  EXPECT_EQ(call(*process, "args_get", {size() - 4, 1000}), kFault);
  EXPECT_EQ(u32At(200), 0x11111111u);
}

TEST_F(WasiTest, EnvironmentIsEmptyUnlessGiven) {
  auto empty = makeProcess();
  putU32(100, 99);
  putU32(104, 99);
  EXPECT_EQ(call(*empty, "environ_sizes_get", {100, 104}), kSuccess);
  EXPECT_EQ(u32At(100), 0u);
  EXPECT_EQ(u32At(104), 0u);
  EXPECT_EQ(call(*empty, "environ_get", {200, 1000}), kSuccess);

  auto with = makeProcess({}, {"w"}, {"GREETING=hi", "EMPTY="});
  EXPECT_EQ(call(*with, "environ_sizes_get", {100, 104}), kSuccess);
  EXPECT_EQ(u32At(100), 2u);
  EXPECT_EQ(u32At(104), 19u);
  EXPECT_EQ(call(*with, "environ_get", {200, 1000}), kSuccess);
  EXPECT_EQ(u32At(200), 1000u);
  EXPECT_EQ(u32At(204), 1012u);
  EXPECT_EQ(textAt(1000, 19), std::string("GREETING=hi\0EMPTY=\0", 19));
  EXPECT_EQ(call(*with, "environ_get", {200, size() - 18}), kFault);
}

TEST_F(WasiTest, ClocksWithoutTimeReadAreNotCapableAndLoggedOnce) {
  auto process = makeProcess();
  putU32(100, 0x5555);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(call(*process, "clock_time_get", {0, 1, 100}), kNotCapable);
    EXPECT_EQ(call(*process, "clock_res_get", {1, 100}), kNotCapable);
  }
  EXPECT_EQ(u32At(100), 0x5555u);  // nothing written
  EXPECT_THAT(process->lastError(), HasSubstr("clock_res_get needs capability TimeRead"));
  EXPECT_EQ(runtimeLogCount("hostcall=clock_time_get"), 1u);
  EXPECT_EQ(runtimeLogCount("hostcall=clock_res_get"), 1u);
  EXPECT_EQ(runtimeLogCount("import_module=wasi_snapshot_preview1"), 2u);
}

TEST_F(WasiTest, ClocksWithTimeRead) {
  auto process = makeProcess({Capability::TimeRead});
  uint64_t before = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now().time_since_epoch())
                                              .count());
  EXPECT_EQ(call(*process, "clock_time_get", {SELIUM_WASI_CLOCK_MONOTONIC, 1000, 100}), kSuccess);
  EXPECT_GE(u64At(100), before);
  EXPECT_EQ(call(*process, "clock_time_get", {SELIUM_WASI_CLOCK_REALTIME, 0, 108}), kSuccess);
  EXPECT_GT(u64At(108), uint64_t{1'700'000'000} * 1'000'000'000);  // after 2023
  EXPECT_EQ(call(*process, "clock_res_get", {SELIUM_WASI_CLOCK_REALTIME, 116}), kSuccess);
  EXPECT_EQ(u64At(116), 1u);
  for (int64_t clock : {2, 3, 4, -1}) {
    EXPECT_EQ(call(*process, "clock_time_get", {clock, 0, 100}), kInval) << clock;
    EXPECT_EQ(call(*process, "clock_res_get", {clock, 100}), kInval) << clock;
  }
  EXPECT_EQ(call(*process, "clock_time_get", {0, 0, size() - 7}), kFault);
  EXPECT_EQ(call(*process, "clock_res_get", {0, 0xFFFFFFFC}), kFault);
  EXPECT_EQ(runtimeLogCount("hostcall denied"), 0u);
}

TEST_F(WasiTest, RandomGetFillsTheBufferWithinBounds) {
  auto process = makeProcess();
  EXPECT_EQ(call(*process, "random_get", {1000, 64}), kSuccess);
  EXPECT_EQ(call(*process, "random_get", {2000, 64}), kSuccess);
  EXPECT_NE(textAt(1000, 64), std::string(64, '\0'));
  EXPECT_NE(textAt(1000, 64), textAt(2000, 64));
  EXPECT_EQ(memory[1064], 0);  // not a byte more
  EXPECT_EQ(call(*process, "random_get", {size(), 0}), kSuccess);
  EXPECT_EQ(call(*process, "random_get", {size() - 10, 11}), kFault);
  EXPECT_EQ(call(*process, "random_get", {0xFFFFFFF0, 0x20}), kFault);
  EXPECT_EQ(call(*process, "random_get", {0, wasi::kMaxRandomBytes + 1}), kInval);
}

TEST_F(WasiTest, ProcExitRequestsTheExitAndSchedYieldSucceeds) {
  auto process = makeProcess();
  EXPECT_EQ(call(*process, "sched_yield", {}), kSuccess);
  EXPECT_FALSE(process->exitRequested().has_value());
  EXPECT_EQ(call(*process, "proc_exit", {3}), 0);
  EXPECT_EQ(process->exitRequested(), 3);
}

// poll_oneoff layouts (wasi-libc's <wasi/api.h>): a 48-byte subscription, a 32-byte event.
constexpr uint8_t kClock = SELIUM_WASI_EVENTTYPE_CLOCK;
constexpr uint8_t kFdRead = SELIUM_WASI_EVENTTYPE_FD_READ;
constexpr uint8_t kFdWrite = SELIUM_WASI_EVENTTYPE_FD_WRITE;
constexpr uint16_t kAbsTime = SELIUM_WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
constexpr uint16_t kHangup = SELIUM_WASI_EVENTRWFLAGS_FD_READWRITE_HANGUP;
constexpr uint32_t kIn = 1024;      // subscriptions
constexpr uint32_t kOut = 8192;     // events
constexpr uint32_t kCount = 16000;  // nevents

template <typename T>
void putLe(std::vector<uint8_t>& bytes, std::size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// Subscription bytes with 0xEE in every byte the layout leaves unused, so a parser reading the
// wrong offset sees garbage.
std::vector<uint8_t> clockSubscription(uint64_t userdata, uint32_t clock, uint64_t timeout,
                                       uint16_t flags) {
  std::vector<uint8_t> s(48, 0xEE);
  putLe(s, 0, userdata);
  s[8] = kClock;
  putLe(s, 16, clock);
  putLe(s, 24, timeout);
  putLe<uint64_t>(s, 32, 1000);  // precision
  putLe(s, 40, flags);
  return s;
}
std::vector<uint8_t> fdSubscription(uint64_t userdata, uint8_t tag, uint32_t fd) {
  std::vector<uint8_t> s(48, 0xEE);
  putLe(s, 0, userdata);
  s[8] = tag;
  putLe(s, 16, fd);
  return s;
}

// The exact 32 bytes of an event; zero where the layout has padding.
std::vector<uint8_t> eventBytes(uint64_t userdata, uint16_t error, uint8_t type,
                                uint64_t nbytes = 0, uint16_t flags = 0) {
  std::vector<uint8_t> e(32, 0);
  putLe(e, 0, userdata);
  putLe(e, 8, error);
  e[10] = type;
  putLe(e, 16, nbytes);
  putLe(e, 24, flags);
  return e;
}

class PollTest : public WasiTest {
 protected:
  void SetUp() override {
    WasiTest::SetUp();
    std::memset(memory.data() + kOut, 0xAB, 4096);  // events never written stay 0xAB
    putU32(kCount, 0xDEADBEEF);
  }
  void subscribe(std::initializer_list<std::vector<uint8_t>> subscriptions) {
    uint32_t at = kIn;
    for (const auto& s : subscriptions) {
      std::memcpy(memory.data() + at, s.data(), s.size());
      at += 48;
    }
  }
  int64_t poll(Process& process, uint32_t n) {
    return call(process, "poll_oneoff", {kIn, kOut, n, kCount});
  }
  std::vector<uint8_t> eventAt(std::size_t i) const {
    auto begin = memory.begin() + kOut + 32 * i;
    return {begin, begin + 32};
  }
  bool untouched(uint32_t address, std::size_t n) const {
    return std::all_of(memory.begin() + address, memory.begin() + address + n,
                       [](uint8_t b) { return b == 0xAB; });
  }
  uint64_t nowNs(int32_t clock) const {
    auto ns = [](auto now) {
      return static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
    };
    return clock == SELIUM_WASI_CLOCK_REALTIME ? ns(std::chrono::system_clock::now())
                                               : ns(std::chrono::steady_clock::now());
  }
};

TEST_F(PollTest, LayoutConstantsMatchWasiLibc) {
  // The numbers of wasi-libc's <wasi/api.h> (__WASI_EVENTTYPE_*, __WASI_SUBCLOCKFLAGS_*,
  // __WASI_EVENTRWFLAGS_*, __WASI_ERRNO_NOTSOCK, sizeof the structs), which a host build cannot
  // include.
  EXPECT_EQ(kClock, 0);
  EXPECT_EQ(kFdRead, 1);
  EXPECT_EQ(kFdWrite, 2);
  EXPECT_EQ(kAbsTime, 1);
  EXPECT_EQ(kHangup, 1);
  EXPECT_EQ(SELIUM_WASI_SUBSCRIPTION_SIZE, 48u);
  EXPECT_EQ(SELIUM_WASI_EVENT_SIZE, 32u);
  EXPECT_EQ(SELIUM_WASI_ERRNO_NOTSOCK, 57);
}

TEST_F(PollTest, StdinAtEndOfFileIsReadableWithHangup) {
  auto process = makeProcess();
  subscribe({fdSubscription(0x1122334455667788, kFdRead, 0)});
  ASSERT_EQ(poll(*process, 1), kSuccess) << process->lastError();
  EXPECT_EQ(u32At(kCount), 1u);
  EXPECT_EQ(eventAt(0), eventBytes(0x1122334455667788, 0, kFdRead, 0, kHangup));
  EXPECT_TRUE(untouched(kOut + 32, 32));
  EXPECT_EQ(runtimeLogCount("WASI call not supported"), 0u);
}

TEST_F(PollTest, StdoutAndStderrAreWritable) {
  auto process = makeProcess();
  subscribe({fdSubscription(7, kFdWrite, 1), fdSubscription(8, kFdWrite, 2)});
  ASSERT_EQ(poll(*process, 2), kSuccess) << process->lastError();
  EXPECT_EQ(u32At(kCount), 2u);
  EXPECT_EQ(eventAt(0), eventBytes(7, 0, kFdWrite, wasi::kMaxWriteBytes));
  EXPECT_EQ(eventAt(1), eventBytes(8, 0, kFdWrite, wasi::kMaxWriteBytes));
  EXPECT_TRUE(untouched(kOut + 64, 32));
}

TEST_F(PollTest, DueClocksFireWithTimeRead) {
  auto process = makeProcess({Capability::TimeRead});
  uint64_t realtime = nowNs(SELIUM_WASI_CLOCK_REALTIME);
  uint64_t monotonic = nowNs(SELIUM_WASI_CLOCK_MONOTONIC);
  subscribe({clockSubscription(1, SELIUM_WASI_CLOCK_MONOTONIC, 0, 0),  // relative 0
             clockSubscription(2, SELIUM_WASI_CLOCK_REALTIME, realtime, kAbsTime),
             clockSubscription(3, SELIUM_WASI_CLOCK_MONOTONIC, monotonic - 1, kAbsTime),
             clockSubscription(4, SELIUM_WASI_CLOCK_REALTIME, 0, kAbsTime)});
  ASSERT_EQ(poll(*process, 4), kSuccess) << process->lastError();
  EXPECT_EQ(u32At(kCount), 4u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(eventAt(i), eventBytes(i + 1, 0, kClock)) << i;
  EXPECT_TRUE(untouched(kOut + 128, 32));
}

TEST_F(PollTest, OnlyReadySubscriptionsGetEventsInTheirOrder) {
  auto process = makeProcess({Capability::TimeRead});
  uint64_t hour = uint64_t{3600} * 1'000'000'000;
  subscribe({clockSubscription(10, SELIUM_WASI_CLOCK_MONOTONIC, hour, 0),  // sleeping
             fdSubscription(11, kFdWrite, 1),
             clockSubscription(12, SELIUM_WASI_CLOCK_REALTIME,
                               nowNs(SELIUM_WASI_CLOCK_REALTIME) + hour, kAbsTime),  // future
             fdSubscription(13, kFdRead, 0),
             clockSubscription(14, SELIUM_WASI_CLOCK_MONOTONIC, 0, 0)});
  ASSERT_EQ(poll(*process, 5), kSuccess) << process->lastError();
  EXPECT_EQ(u32At(kCount), 3u);
  EXPECT_EQ(eventAt(0), eventBytes(11, 0, kFdWrite, wasi::kMaxWriteBytes));
  EXPECT_EQ(eventAt(1), eventBytes(13, 0, kFdRead, 0, kHangup));
  EXPECT_EQ(eventAt(2), eventBytes(14, 0, kClock));
  EXPECT_TRUE(untouched(kOut + 96, 64));  // the rest of `out` is left alone
}

TEST_F(PollTest, NothingReadyIsEnotsupLoggedOncePerProcessAndWritesNothing) {
  auto process = makeProcess({Capability::TimeRead});
  uint64_t second = 1'000'000'000;
  subscribe({clockSubscription(1, SELIUM_WASI_CLOCK_MONOTONIC, second, 0),
             clockSubscription(2, SELIUM_WASI_CLOCK_MONOTONIC,
                               nowNs(SELIUM_WASI_CLOCK_MONOTONIC) + 3600 * second, kAbsTime)});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(poll(*process, 2), kNotSup);
  EXPECT_EQ(u32At(kCount), 0xDEADBEEFu);
  EXPECT_TRUE(untouched(kOut, 64));
  EXPECT_THAT(process->lastError(), HasSubstr("poll_oneoff: nothing is ready"));
  EXPECT_EQ(runtimeLogCount("call=poll_oneoff"), 1u);
  EXPECT_THAT(runtime_log.back(), HasSubstr("WASI call not supported"));
  auto other = makeProcess({Capability::TimeRead});
  EXPECT_EQ(poll(*other, 1), kNotSup);
  EXPECT_EQ(runtimeLogCount("call=poll_oneoff"), 2u);  // once per process
  // A ready subscription later in the same process is answered.
  subscribe({fdSubscription(5, kFdWrite, 2)});
  EXPECT_EQ(poll(*process, 1), kSuccess);
  EXPECT_EQ(u32At(kCount), 1u);
}

TEST_F(PollTest, OtherFdsAndWrongDirectionsGetEbadfEvents) {
  auto process = makeProcess();
  subscribe({fdSubscription(1, kFdRead, 3), fdSubscription(2, kFdWrite, 0xFFFFFFFF),
             fdSubscription(3, kFdRead, 1), fdSubscription(4, kFdWrite, 0),
             fdSubscription(5, kFdWrite, 1000)});
  ASSERT_EQ(poll(*process, 5), kSuccess) << process->lastError();
  EXPECT_EQ(u32At(kCount), 5u);
  EXPECT_EQ(eventAt(0), eventBytes(1, kBadFd, kFdRead));
  EXPECT_EQ(eventAt(1), eventBytes(2, kBadFd, kFdWrite));
  EXPECT_EQ(eventAt(2), eventBytes(3, kBadFd, kFdRead));   // stdout is not readable
  EXPECT_EQ(eventAt(3), eventBytes(4, kBadFd, kFdWrite));  // stdin is not writable
  EXPECT_EQ(eventAt(4), eventBytes(5, kBadFd, kFdWrite));
}

TEST_F(PollTest, AbsoluteClockWithoutTimeReadIsANotCapableEventLoggedOnce) {
  auto process = makeProcess();
  uint64_t hour = uint64_t{3600} * 1'000'000'000;
  subscribe({clockSubscription(1, SELIUM_WASI_CLOCK_MONOTONIC, hour, kAbsTime),
             clockSubscription(2, SELIUM_WASI_CLOCK_REALTIME, 0, kAbsTime),
             clockSubscription(3, SELIUM_WASI_CLOCK_MONOTONIC, hour, 0),  // relative: no event
             clockSubscription(4, SELIUM_WASI_CLOCK_MONOTONIC, 0, 0),     // relative 0: fires
             fdSubscription(5, kFdWrite, 1)});
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(poll(*process, 5), kSuccess);
    EXPECT_EQ(u32At(kCount), 4u);
    EXPECT_EQ(eventAt(0), eventBytes(1, kNotCapable, kClock));
    EXPECT_EQ(eventAt(1), eventBytes(2, kNotCapable, kClock));
    EXPECT_EQ(eventAt(2), eventBytes(4, 0, kClock));
    EXPECT_EQ(eventAt(3), eventBytes(5, 0, kFdWrite, wasi::kMaxWriteBytes));
    EXPECT_TRUE(untouched(kOut + 128, 32));
  }
  EXPECT_THAT(process->lastError(), HasSubstr("needs capability TimeRead"));
  EXPECT_EQ(runtimeLogCount("hostcall=poll_oneoff"), 1u);
  EXPECT_EQ(runtimeLogCount("capability=TimeRead"), 1u);
}

TEST_F(PollTest, RelativeClocksReadNoTimeSoNeedNoTimeRead) {
  // Sleeping without TimeRead fails as it does with it (ENOTSUP), rather than ending at once.
  auto process = makeProcess();
  subscribe({clockSubscription(1, SELIUM_WASI_CLOCK_MONOTONIC, 10'000'000, 0)});
  EXPECT_EQ(poll(*process, 1), kNotSup);
  EXPECT_EQ(u32At(kCount), 0xDEADBEEFu);
  EXPECT_TRUE(untouched(kOut, 32));
  subscribe({clockSubscription(2, SELIUM_WASI_CLOCK_REALTIME, 0, 0)});
  ASSERT_EQ(poll(*process, 1), kSuccess);
  EXPECT_EQ(u32At(kCount), 1u);
  EXPECT_EQ(eventAt(0), eventBytes(2, 0, kClock));
  EXPECT_EQ(runtimeLogCount("hostcall denied"), 0u);
}

TEST_F(PollTest, UnknownClocksGetEinvalEvents) {
  auto process = makeProcess({Capability::TimeRead});
  subscribe({clockSubscription(1, SELIUM_WASI_CLOCK_PROCESS_CPUTIME, 0, 0),
             clockSubscription(2, 0x80000000, 0, 0), clockSubscription(3, 4, 1, kAbsTime)});
  ASSERT_EQ(poll(*process, 3), kSuccess);
  EXPECT_EQ(u32At(kCount), 3u);
  for (uint64_t i = 0; i < 3; ++i) EXPECT_EQ(eventAt(i), eventBytes(i + 1, kInval, kClock)) << i;
}

TEST_F(PollTest, UnknownTypeOrNoSubscriptionsIsEinvalWritingNothing) {
  auto process = makeProcess({Capability::TimeRead});
  EXPECT_EQ(poll(*process, 0), kInval);
  EXPECT_THAT(process->lastError(), HasSubstr("no subscriptions"));
  auto bad = fdSubscription(2, 3, 1);
  subscribe({fdSubscription(1, kFdWrite, 1), bad});
  EXPECT_EQ(poll(*process, 2), kInval);
  EXPECT_THAT(process->lastError(), HasSubstr("subscription 1 has unknown type 3"));
  bad[8] = 0xFF;
  subscribe({fdSubscription(1, kFdWrite, 1), bad});
  EXPECT_EQ(poll(*process, 2), kInval);
  EXPECT_EQ(u32At(kCount), 0xDEADBEEFu);
  EXPECT_TRUE(untouched(kOut, 64));  // not even the ready first one
  // Too many subscriptions, including counts whose byte size wraps 32 bits (0x05555556 * 48).
  for (int64_t n :
       {int64_t{wasi::kMaxSubscriptions} + 1, int64_t{0x05555556}, int64_t{0xFFFFFFFF}}) {
    EXPECT_EQ(poll(*process, static_cast<uint32_t>(n)), kInval) << n;
  }
  EXPECT_EQ(runtimeLogCount("WASI call not supported"), 0u);
}

TEST_F(PollTest, HostilePointersAreEfaultWritingNothing) {
  auto process = makeProcess({Capability::TimeRead});
  subscribe({fdSubscription(1, kFdWrite, 1), fdSubscription(2, kFdWrite, 2)});
  auto pollAt = [&](uint32_t in, uint32_t out, uint32_t n, uint32_t count) {
    return call(*process, "poll_oneoff", {in, out, n, count});
  };
  // Subscriptions running past the end of memory, or wrapping around 4 GiB.
  EXPECT_EQ(pollAt(size() - 48 * 2 + 1, kOut, 2, kCount), kFault);
  EXPECT_EQ(pollAt(0xFFFFFFF0, kOut, 1, kCount), kFault);
  // Events: 2 * 32 bytes must fit.
  EXPECT_EQ(pollAt(kIn, size() - 63, 2, kCount), kFault);
  EXPECT_EQ(pollAt(kIn, 0xFFFFFFE8, 2, kCount), kFault);
  // The count.
  EXPECT_EQ(pollAt(kIn, kOut, 2, size() - 3), kFault);
  EXPECT_EQ(pollAt(kIn, kOut, 2, 0xFFFFFFFE), kFault);
  // The largest accepted count still has to fit in memory (4096 * 48 > 64 KiB).
  EXPECT_EQ(pollAt(0, kOut, wasi::kMaxSubscriptions, kCount), kFault);
  EXPECT_EQ(u32At(kCount), 0xDEADBEEFu);
  EXPECT_TRUE(untouched(kOut, 64));
  // Ranges ending exactly at the end of memory are fine.
  std::memcpy(memory.data() + size() - 96, memory.data() + kIn, 96);
  EXPECT_EQ(pollAt(size() - 96, size() - 200, 2, size() - 4), kSuccess);
  EXPECT_EQ(u32At(size() - 4), 2u);
}

TEST_F(PollTest, EventsMayOverlapTheSubscriptions) {
  auto process = makeProcess();
  subscribe({fdSubscription(21, kFdWrite, 2), fdSubscription(22, kFdRead, 0)});
  // `out` == `in`: each subscription is read before any event is written over it.
  ASSERT_EQ(call(*process, "poll_oneoff", {kIn, kIn, 2, kCount}), kSuccess);
  EXPECT_EQ(u32At(kCount), 2u);
  std::vector<uint8_t> first(memory.begin() + kIn, memory.begin() + kIn + 32);
  std::vector<uint8_t> second(memory.begin() + kIn + 32, memory.begin() + kIn + 64);
  EXPECT_EQ(first, eventBytes(21, 0, kFdWrite, wasi::kMaxWriteBytes));
  EXPECT_EQ(second, eventBytes(22, 0, kFdRead, 0, kHangup));
}

TEST_F(WasiTest, SockShutdownIsEbadfOrEnotsockWithoutLogging) {
  auto process = makeProcess();
  for (int i = 0; i < 3; ++i) {
    for (int64_t fd : {int64_t{0}, int64_t{1}, int64_t{2}}) {
      EXPECT_EQ(call(*process, "sock_shutdown", {fd, 2}), SELIUM_WASI_ERRNO_NOTSOCK) << fd;
    }
    for (int64_t fd : {int64_t{3}, int64_t{-1}, int64_t{1000}, int64_t{INT32_MIN}}) {
      EXPECT_EQ(call(*process, "sock_shutdown", {fd, 0}), kBadFd) << fd;
    }
  }
  EXPECT_THAT(process->lastError(), HasSubstr("sock_shutdown: fd -2147483648 is not open"));
  EXPECT_EQ(call(*process, "sock_shutdown", {1, 1}), SELIUM_WASI_ERRNO_NOTSOCK);
  EXPECT_THAT(process->lastError(), HasSubstr("fd 1 is a character device, not a socket"));
  EXPECT_EQ(runtimeLogCount("sock_shutdown"), 0u);  // answers, not gaps
}

TEST_F(WasiTest, EverythingElseIsEnosysLoggedOncePerProcessAndCall) {
  const std::set<std::string_view> answered = {"args_get",
                                               "args_sizes_get",
                                               "environ_get",
                                               "environ_sizes_get",
                                               "clock_res_get",
                                               "clock_time_get",
                                               "fd_close",
                                               "fd_fdstat_get",
                                               "fd_filestat_get",
                                               "fd_prestat_get",
                                               "fd_prestat_dir_name",
                                               "fd_read",
                                               "fd_seek",
                                               "fd_tell",
                                               "fd_write",
                                               "poll_oneoff",
                                               "proc_exit",
                                               "sched_yield",
                                               "random_get",
                                               "sock_shutdown"};
  auto process = makeProcess({Capability::TimeRead});
  std::size_t enosys = 0;
  for (const HostcallSpec& spec : hostcallTable(SELIUM_WASI_IMPORT_MODULE)) {
    if (answered.count(spec.name)) continue;
    std::vector<int64_t> args(spec.params.size(), 1);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(call(*process, spec.name, args), kNoSys) << spec.name;
    EXPECT_EQ(runtimeLogCount("call=" + std::string(spec.name) + " "), 1u) << spec.name;
    ++enosys;
  }
  EXPECT_EQ(enosys, 46u - answered.size());
  EXPECT_THAT(process->lastError(), HasSubstr("sock_send: not implemented"));
}

}  // namespace
}  // namespace selium::kernel
