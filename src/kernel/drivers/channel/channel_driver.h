// Channel driver (capabilities ChannelLifecycle, ChannelReader, ChannelWriter): channel, reader and
// writer handles over kernel/channel.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "kernel/hostcall.h"

namespace selium::kernel {

class Channel;
class ChannelReader;
class ChannelWriter;
class LogStream;
class Shareable;
enum class Backpressure : uint8_t;
// A reader handle's resource for `reader` (process_log_open hands out log stream readers; the
// net driver, body readers).
std::unique_ptr<Resource> makeReaderResource(std::shared_ptr<ChannelReader> reader);
// A writer handle's resource for `writer` (the net driver's body writers).
std::unique_ptr<Resource> makeWriterResource(std::shared_ptr<ChannelWriter> writer);
// The channel of a shared object that is a channel or a writer (what a singleton names), or
// nullptr.
std::shared_ptr<Channel> channelOf(const std::shared_ptr<Shareable>& object);
// A shareable object of kind Reader for a process's log stream: each attach gives the attacher
// a new weak reader of its own (as process_log_open does), never a writer. Published in Atlas
// under a process's log_uri.
std::shared_ptr<Shareable> makeLogFollower(std::shared_ptr<LogStream> stream);
// Charges `bytes` to the calling process's channel budget (what channels and HTTP bodies hold):
// a token that gives them back when released, or the error result (LimitExceeded, last error set
// naming `what`) to return.
std::variant<std::shared_ptr<void>, int32_t> chargeChannelBudget(CallContext& ctx,
                                                                 std::size_t bytes,
                                                                 const std::string& what);
// A channel of `capacity` bytes charged to the calling process's channel budget (given back when
// its ring is freed), or the error result (LimitExceeded, last error set) to return.
std::variant<std::shared_ptr<Channel>, int32_t> createChargedChannel(CallContext& ctx,
                                                                     std::size_t capacity,
                                                                     Backpressure backpressure);

}  // namespace selium::kernel

namespace selium::kernel::hostcalls {

int32_t channel_create(CallContext& ctx, uint32_t capacity, int32_t backpressure);
int32_t channel_drain(CallContext& ctx, int32_t channel);
int32_t channel_delete(CallContext& ctx, int32_t channel);
int32_t channel_reader_open(CallContext& ctx, int32_t channel, int32_t strength);
int32_t channel_read(CallContext& ctx, int32_t reader, GuestOut buf, int32_t waker);
int32_t channel_read_batch(CallContext& ctx, int32_t reader, GuestOut buf, int32_t waker);
int64_t channel_reader_lost(CallContext& ctx, int32_t reader);
int32_t channel_writer_open(CallContext& ctx, int32_t channel, int32_t strength);
int32_t channel_writer_downgrade(CallContext& ctx, int32_t writer);
int32_t channel_write(CallContext& ctx, int32_t writer, GuestIn data, int32_t waker);
int32_t channel_write_batch(CallContext& ctx, int32_t writer, GuestIn batch, int32_t waker);
int32_t stream_finish(CallContext& ctx, int32_t writer);

}  // namespace selium::kernel::hostcalls
