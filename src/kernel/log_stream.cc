// Log streams for subscribers.
#include "kernel/log_stream.h"

#include <variant>

#include "kernel/process.h"
#include "selium/schemas/log_generated.h"

namespace selium::kernel {

LogStream::~LogStream() { close(); }

std::shared_ptr<Channel> LogStream::channel() {
  std::lock_guard lock(mutex_);
  if (closed_) return nullptr;
  if (channel_ == nullptr) {
    channel_ = Channel::create(kCapacity, Backpressure::Drop);
    writer_ = ChannelWriter::open(channel_, Strength::Weak);
    open_.store(true, std::memory_order_release);
  }
  return channel_;
}

void LogStream::write(const GuestLogRecord& record) {
  if (!open_.load(std::memory_order_acquire)) return;
  std::vector<uint8_t> frame = encodeLogRecord(record);
  std::lock_guard lock(mutex_);
  if (writer_ == nullptr) return;
  // Only weak readers are handed out, so a full ring overwrites its oldest records instead of
  // refusing this one; a record larger than the whole ring cannot be kept and is skipped.
  WriteResult result = writer_->write(frame, waiter_, Waker{});
  if (result.status == ChannelStatus::Ok) written_.fetch_add(1, std::memory_order_relaxed);
}

void LogStream::close() {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  closed_ = true;
  open_.store(false, std::memory_order_release);
  waiter_.cancel();
  writer_.reset();
  if (channel_ != nullptr) channel_->drain();
  channel_.reset();
}

std::vector<uint8_t> encodeLogRecord(const GuestLogRecord& record) {
  namespace fb = ::selium::abi;
  flatbuffers::FlatBufferBuilder builder(256);
  std::vector<flatbuffers::Offset<fb::LogField>> fields;
  fields.reserve(record.fields.size());
  for (const log::Field& field : record.fields) {
    auto key = builder.CreateString(field.key);
    flatbuffers::Offset<flatbuffers::String> str;
    if (const auto* s = std::get_if<std::string>(&field.value)) str = builder.CreateString(*s);
    fb::LogFieldBuilder out(builder);
    out.add_key(key);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            out.add_kind(fb::FieldKind::Str);
            out.add_str(str);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            out.add_kind(fb::FieldKind::Int);
            out.add_int_(v);
          } else if constexpr (std::is_same_v<T, uint64_t>) {
            out.add_kind(fb::FieldKind::Uint);
            out.add_uint(v);
          } else if constexpr (std::is_same_v<T, double>) {
            out.add_kind(fb::FieldKind::Float);
            out.add_float_(v);
          } else {
            out.add_kind(fb::FieldKind::Bool);
            out.add_bool_(v);
          }
        },
        field.value);
    fields.push_back(out.Finish());
  }
  auto target = builder.CreateString(record.target);
  auto message = builder.CreateString(record.message);
  auto field_vector = builder.CreateVector(fields);
  fb::LogRecordBuilder out(builder);
  out.add_level(static_cast<fb::LogLevel>(static_cast<int>(record.level)));
  out.add_target(target);
  out.add_message(message);
  out.add_fields(field_vector);
  builder.Finish(out.Finish());
  return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

}  // namespace selium::kernel
