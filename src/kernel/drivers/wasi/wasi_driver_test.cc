// WASI preview 1 through the real dispatcher: a real Process, a byte vector as guest memory,
// hostile pointers and iovecs included.
#include "kernel/drivers/wasi/wasi_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <selium/abi/wasi.h>

#include <boost/asio/io_context.hpp>
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

TEST_F(WasiTest, PollOneoffNeverBlocksAndWarnsOncePerProcess) {
  auto process = makeProcess();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(call(*process, "poll_oneoff", {100, 200, 1, 300}), kNotSup);
  EXPECT_EQ(runtimeLogCount("call=poll_oneoff"), 1u);
  EXPECT_THAT(runtime_log.back(), HasSubstr("WASI call not supported"));
  auto other = makeProcess();
  EXPECT_EQ(call(*other, "poll_oneoff", {100, 200, 1, 300}), kNotSup);
  EXPECT_EQ(runtimeLogCount("call=poll_oneoff"), 2u);  // once per process
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
                                               "random_get"};
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
  EXPECT_THAT(process->lastError(), HasSubstr("sock_shutdown: not implemented"));
}

}  // namespace
}  // namespace selium::kernel
