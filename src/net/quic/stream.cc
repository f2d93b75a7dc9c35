#include "net/quic/stream.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>

#include "net/quic/connection.h"

namespace selium::net::quic {

StreamImpl::StreamImpl(ConnectionImpl& connection, boost::asio::io_context& loop, int64_t id,
                       bool remote, const Limits& limits)
    : connection_(&connection),
      loop_(loop),
      id_(id),
      remote_(remote),
      max_send_buffer_(std::max<std::size_t>(limits.max_send_buffer, kChunkSize)) {}

StreamImpl::~StreamImpl() = default;

void StreamImpl::setConsumer(std::shared_ptr<ByteConsumer> consumer) {
  if (consumer_ || end_told_ || !consumer) return;
  consumer_ = std::move(consumer);
  scheduleDelivery();
}

void StreamImpl::resumeReceive() {
  if (!paused_) return;
  paused_ = false;
  scheduleDelivery();
}

void StreamImpl::setProducer(std::shared_ptr<ByteProducer> producer) {
  if (producer_ || write_shut_ || fin_pending_ || !producer) return;
  producer_ = std::move(producer);
  if (connection_ != nullptr) connection_->scheduleWork();
}

void StreamImpl::resumeSend() {
  if (!producer_waiting_) return;
  producer_waiting_ = false;
  if (connection_ != nullptr) connection_->scheduleWork();
}

void StreamImpl::reset(uint64_t app_error_code) {
  if (connection_ != nullptr && connection_->raw() != nullptr && !closed_) {
    ngtcp2_conn_shutdown_stream(connection_->raw(), id_, app_error_code);
    connection_->scheduleWork();
  }
  onWriteShut();
  if (!receive_done_) endReceive(false);
  if (connection_ != nullptr) connection_->enqueue(*this);
}

void StreamImpl::stopSending(uint64_t app_error_code) {
  // Once the peer's FIN is here it sends nothing more: there is nothing to stop.
  if (connection_ != nullptr && connection_->raw() != nullptr && !closed_ && !fin_received_ &&
      !receive_done_) {
    ngtcp2_conn_shutdown_stream_read(connection_->raw(), id_, app_error_code);
    connection_->scheduleWork();
  }
  if (!receive_done_) endReceive(false);
  if (connection_ != nullptr) connection_->enqueue(*this);
}

void StreamImpl::onData(const uint8_t* data, std::size_t size, bool fin) {
  if (receive_done_) {
    // Stopped or reset locally: nobody wants these bytes; give the credit back.
    if (connection_ != nullptr) connection_->discarded(size);
    return;
  }
  if (read_ > 0 && read_ == received_.size()) {
    received_.clear();
    read_ = 0;
  }
  received_.insert(received_.end(), data, data + size);
  if (fin) fin_received_ = true;
}

void StreamImpl::onPeerReset() {
  if (!receive_done_) endReceive(false);
}

void StreamImpl::resetBeforeOpen() {
  untracked_ = true;
  closed_ = true;
  onWriteShut();
  endReceive(false);
}

void StreamImpl::onPeerStopSending() {
  // ngtcp2 answers with RESET_STREAM itself; the producer is not read any more.
  onWriteShut();
}

void StreamImpl::onAcked(uint64_t size) {
  acked_ += size;
  while (!chunks_.empty() && acked_ >= base_ + kChunkSize) {
    chunks_.pop_front();
    base_ += kChunkSize;
  }
}

void StreamImpl::onClosed() {
  closed_ = true;
  onWriteShut();
  // ngtcp2 has no more bytes for us; a FIN that arrived completes the stream once taken, anything
  // else (it was reset) already ended it.
  if (!fin_received_ && !receive_done_) endReceive(false);
}

void StreamImpl::onWriteShut() {
  write_shut_ = true;
  producer_.reset();
  producer_waiting_ = false;
  if (closed_) {
    chunks_.clear();
    base_ = acked_ = written_ = filled_;
  }
}

void StreamImpl::deliver() {
  if (end_told_) return;
  auto self = shared_from_this();  // the consumer may drop the last outside reference
  if (end_result_) {
    if (consumer_) {
      end_told_ = true;
      auto consumer = std::move(consumer_);
      consumer->end(*end_result_);
    }
    return;
  }
  while (consumer_ && !paused_ && read_ < received_.size()) {
    const std::size_t offered = received_.size() - read_;
    const std::size_t taken = std::min(
        offered, consumer_->offer(std::span<const uint8_t>(received_.data() + read_, offered)));
    if (end_result_ || !consumer_) return;  // the consumer reset or stopped the stream
    read_ += taken;
    if (connection_ != nullptr && taken > 0) connection_->consumed(id_, taken);
    if (read_ == received_.size()) {
      received_.clear();
      read_ = 0;
    } else if (read_ > received_.size() / 2) {
      received_.erase(received_.begin(), received_.begin() + static_cast<std::ptrdiff_t>(read_));
      read_ = 0;
    }
    if (taken < offered) paused_ = true;
  }
  if (fin_received_ && read_ == received_.size() && !receive_done_) {
    receive_done_ = true;
    end_result_ = true;
    if (consumer_) {
      end_told_ = true;
      auto consumer = std::move(consumer_);
      consumer->end(true);
    }
  }
}

void StreamImpl::endReceive(bool complete) {
  receive_done_ = true;
  end_result_ = complete;
  discardReceived();
  scheduleDelivery();
}

void StreamImpl::discardReceived() {
  const std::size_t held = received_.size() - read_;
  if (held > 0 && connection_ != nullptr) connection_->discarded(held);
  received_.clear();
  received_.shrink_to_fit();
  read_ = 0;
}

void StreamImpl::scheduleDelivery() {
  if (connection_ != nullptr) {
    connection_->enqueue(*this);
    connection_->scheduleWork();
    return;
  }
  if (delivery_posted_) return;
  delivery_posted_ = true;
  boost::asio::post(loop_, [self = shared_from_this()] {
    self->delivery_posted_ = false;
    try {
      self->deliver();
    } catch (...) {
      // A throwing consumer only loses its own stream.
    }
  });
}

void StreamImpl::fill() {
  while (producer_ && !producer_waiting_ && !write_shut_ && !fin_pending_ &&
         filled_ - acked_ < max_send_buffer_) {
    const uint64_t chunk_end = base_ + chunks_.size() * kChunkSize;
    if (filled_ == chunk_end) {
      chunks_.push_back(std::make_unique<uint8_t[]>(kChunkSize));
    }
    const std::size_t at = static_cast<std::size_t>((filled_ - base_) % kChunkSize);
    const std::size_t room = std::min<std::size_t>(
        kChunkSize - at, max_send_buffer_ - static_cast<std::size_t>(filled_ - acked_));
    uint8_t* tail = chunks_.back().get() + at;
    auto producer = producer_;  // read() may reset the stream
    const ByteProducer::Chunk chunk = producer->read(std::span<uint8_t>(tail, room));
    if (write_shut_) return;
    switch (chunk.state) {
      case ByteProducer::State::Data:
        filled_ += std::min(chunk.size, room);
        break;
      case ByteProducer::State::Wait:
        producer_waiting_ = true;
        break;
      case ByteProducer::State::End:
        fin_pending_ = true;
        producer_.reset();
        break;
      case ByteProducer::State::Abort:
        if (connection_ != nullptr && connection_->raw() != nullptr && !closed_) {
          ngtcp2_conn_shutdown_stream_write(connection_->raw(), id_, kProducerAbortedError);
        }
        onWriteShut();
        break;
    }
  }
}

bool StreamImpl::wantsToSend(bool connection_credit) const {
  if (write_shut_ || flow_blocked_ || fin_written_) return false;
  if (written_ < filled_) return connection_credit;
  return fin_pending_;
}

std::size_t StreamImpl::unsent(ngtcp2_vec* vectors, std::size_t max_vectors, bool& fin) const {
  std::size_t count = 0;
  uint64_t at = written_;
  while (at < filled_ && count < max_vectors) {
    const std::size_t index = static_cast<std::size_t>((at - base_) / kChunkSize);
    const std::size_t offset = static_cast<std::size_t>((at - base_) % kChunkSize);
    const std::size_t size =
        static_cast<std::size_t>(std::min<uint64_t>(kChunkSize - offset, filled_ - at));
    vectors[count++] = ngtcp2_vec{chunks_[index].get() + offset, size};
    at += size;
  }
  fin = fin_pending_ && at == filled_;
  return count;
}

void StreamImpl::onWritten(std::size_t size, bool fin_included) {
  written_ += size;
  if (fin_included && fin_pending_ && written_ == filled_) fin_written_ = true;
}

void StreamImpl::detach() {
  connection_ = nullptr;
  closed_ = true;
  onWriteShut();
  if (!receive_done_ && !fin_received_) {
    endReceive(false);
  } else {
    scheduleDelivery();  // held bytes up to a FIN still reach the consumer
  }
}

}  // namespace selium::net::quic
