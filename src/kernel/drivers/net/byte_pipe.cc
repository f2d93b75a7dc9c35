#include "kernel/drivers/net/byte_pipe.h"

#include <boost/asio/post.hpp>
#include <cstring>

namespace selium::kernel {

void LoopWake::wakeFromAnyThread(ProcessId, int32_t) {
  if (posted_.exchange(true, std::memory_order_acq_rel)) return;
  boost::asio::post(loop_, [self = shared_from_this()] {
    self->posted_.store(false, std::memory_order_release);
    self->callback_();
  });
}

std::shared_ptr<ChannelSink> ChannelSink::create(boost::asio::io_context& loop,
                                                 std::shared_ptr<Channel> channel,
                                                 std::function<void()> resume) {
  auto sink = std::shared_ptr<ChannelSink>(new ChannelSink(std::move(channel), std::move(resume)));
  std::weak_ptr<ChannelSink> weak = sink;
  sink->wake_ = std::make_shared<LoopWake>(loop, [weak] {
    if (auto self = weak.lock(); self && !self->ended_ && self->resume_) self->resume_();
  });
  return sink;
}

ChannelSink::ChannelSink(std::shared_ptr<Channel> channel, std::function<void()> resume)
    : channel_(std::move(channel)),
      writer_(ChannelWriter::open(channel_, Strength::Strong)),
      resume_(std::move(resume)) {}

ChannelSink::~ChannelSink() {
  waiter_.cancel();
  if (!ended_) channel_->close();
}

std::size_t ChannelSink::offer(std::span<const uint8_t> bytes) {
  if (ended_) return bytes.size();
  std::size_t taken = 0;
  const Waker waker = wake_->waker();
  const std::size_t most = std::min(kMaxFrame, channel_->capacity() - Channel::kFrameOverhead);
  while (taken < bytes.size()) {
    const auto piece = bytes.subspan(taken, std::min(most, bytes.size() - taken));
    const WriteResult result = writer_->write(piece, waiter_, waker);
    if (result.status == ChannelStatus::WouldBlock) break;
    // Written; or the channel is gone (nobody will read it): the bytes are dropped, as they
    // are when the guest closed its reader.
    taken += piece.size();
    if (result.status != ChannelStatus::Ok) return bytes.size();
  }
  return taken;
}

void ChannelSink::end(bool complete) {
  if (ended_) return;
  ended_ = true;
  waiter_.cancel();
  if (complete) {
    channel_->drain();
  } else {
    channel_->close();
  }
}

std::shared_ptr<ChannelSource> ChannelSource::create(boost::asio::io_context& loop,
                                                     std::shared_ptr<Channel> channel,
                                                     std::optional<uint64_t> length,
                                                     std::function<void()> resume) {
  auto source = std::shared_ptr<ChannelSource>(
      new ChannelSource(std::move(channel), length, std::move(resume)));
  std::weak_ptr<ChannelSource> weak = source;
  source->wake_ = std::make_shared<LoopWake>(loop, [weak] {
    if (auto self = weak.lock(); self && self->resume_) self->resume_();
  });
  return source;
}

ChannelSource::ChannelSource(std::shared_ptr<Channel> channel, std::optional<uint64_t> length,
                             std::function<void()> resume)
    : channel_(std::move(channel)),
      reader_(ChannelReader::open(channel_, Strength::Strong)),
      remaining_(length),
      resume_(std::move(resume)) {}

ChannelSource::~ChannelSource() { close(); }

void ChannelSource::close() {
  waiter_.cancel();
  channel_->close();
}

net::ByteProducer::Chunk ChannelSource::read(std::span<uint8_t> out) {
  using State = net::ByteProducer::State;
  for (;;) {
    if (pending_pos_ < pending_.size()) {
      const std::size_t n = std::min(out.size(), pending_.size() - pending_pos_);
      std::memcpy(out.data(), pending_.data() + pending_pos_, n);
      pending_pos_ += n;
      if (pending_pos_ == pending_.size()) {
        pending_.clear();
        pending_pos_ = 0;
      }
      return {State::Data, n};
    }
    if (remaining_ && *remaining_ == 0) {
      // The declared length is out: the body is complete whatever the writer does next.
      channel_->drain();
      return {State::End, 0};
    }
    ReadResult result = reader_->read(out, waiter_, wake_->waker());
    std::span<const uint8_t> frame;
    if (result.status == ChannelStatus::TooLarge) {
      pending_.resize(result.needed);
      result = reader_->read(pending_, waiter_, wake_->waker());
      if (result.status != ChannelStatus::Ok) pending_.clear();
      if (result.status == ChannelStatus::Ok) frame = {pending_.data(), result.bytes};
    } else if (result.status == ChannelStatus::Ok) {
      frame = {out.data(), result.bytes};
    }
    switch (result.status) {
      case ChannelStatus::Ok:
        break;
      case ChannelStatus::WouldBlock:
        return {State::Wait, 0};
      case ChannelStatus::EndOfStream:
        return {State::End, 0};
      default:  // Closed: the writer went away without finishing the stream
        return {State::Abort, 0};
    }
    if (frame.empty()) continue;
    if (remaining_) {
      if (frame.size() > *remaining_) return {State::Abort, 0};  // past the declared length
      *remaining_ -= frame.size();
    }
    if (frame.data() == out.data()) return {State::Data, frame.size()};
    pending_.resize(frame.size());  // the frame is in pending_: hand it out from the top
    pending_pos_ = 0;
  }
}

}  // namespace selium::kernel
