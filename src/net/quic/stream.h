// One QUIC bidirectional stream: the bytes held between ngtcp2 and the application in each
// direction. Loop thread only; owned by its ConnectionImpl while the connection runs, and by the
// application's shared_ptr after.
#pragma once

#include <ngtcp2/ngtcp2.h>

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "net/quic/quic.h"

namespace selium::net::quic {

class ConnectionImpl;

class StreamImpl : public Stream, public std::enable_shared_from_this<StreamImpl> {
 public:
  StreamImpl(ConnectionImpl& connection, boost::asio::io_context& loop, int64_t id, bool remote,
             const Limits& limits);
  ~StreamImpl() override;

  // Stream
  int64_t id() const override { return id_; }
  void setConsumer(std::shared_ptr<ByteConsumer> consumer) override;
  void resumeReceive() override;
  void setProducer(std::shared_ptr<ByteProducer> producer) override;
  void resumeSend() override;
  void reset(uint64_t app_error_code) override;
  void stopSending(uint64_t app_error_code) override;
  std::size_t heldReceiveBytes() const override { return received_.size() - read_; }
  std::size_t heldSendBytes() const override { return filled_ - acked_; }

  // From ngtcp2 callbacks (no application code runs here).
  void onData(const uint8_t* data, std::size_t size, bool fin);
  void onPeerReset();
  void onPeerStopSending();
  void onAcked(uint64_t size);
  void onClosed();  // ngtcp2 forgot the stream: both directions are over
  void onSendCredit() { flow_blocked_ = false; }
  // The peer reset this stream before any of its data arrived. ngtcp2 0.12 keeps no state for
  // such a stream (it forgets it and gives the peer its stream credit back at once), so this
  // object only tells the application: the receive side ends now (not complete) and nothing can
  // be sent on it.
  void resetBeforeOpen();
  bool untracked() const { return untracked_; }

  // Outside callbacks: offers held bytes to the consumer, ends it when due.
  void deliver();
  // Reads the producer until the send buffer is full or it waits.
  void fill();
  // Sending: the bytes not yet handed to ngtcp2 (fin: FIN follows them).
  bool wantsToSend(bool connection_credit) const;
  std::size_t unsent(ngtcp2_vec* vectors, std::size_t max_vectors, bool& fin) const;
  void onWritten(std::size_t size, bool fin_included);
  void onFlowBlocked() { flow_blocked_ = true; }
  void onWriteShut();
  bool flowBlocked() const { return flow_blocked_; }

  bool remote() const { return remote_; }
  // Both directions are over for the application too: the connection may forget it.
  // An untracked stream stays until the application has been told (its slot is not ngtcp2's).
  bool finished() const { return closed_ && receive_done_ && (!untracked_ || end_told_); }
  // The connection is gone: held bytes that completed the stream are still delivered; anything
  // else ends now.
  void detach();
  // Listed in the connection's work list (dedup flag, owned by the connection).
  bool queued = false;

 private:
  void endReceive(bool complete);
  void discardReceived();
  void scheduleDelivery();

  ConnectionImpl* connection_;  // null once detached
  boost::asio::io_context& loop_;
  const int64_t id_;
  const bool remote_;
  const std::size_t max_send_buffer_;

  // Receive: bytes ngtcp2 passed up that the consumer has not taken (at most the stream window,
  // since credit returns only for taken bytes).
  std::shared_ptr<ByteConsumer> consumer_;
  std::vector<uint8_t> received_;
  std::size_t read_ = 0;  // taken prefix of received_
  bool fin_received_ = false;
  bool paused_ = false;             // the consumer was full; wait for resumeReceive()
  bool receive_done_ = false;       // the outcome is known (maybe not told yet)
  std::optional<bool> end_result_;  // told to the consumer when it is set
  bool end_told_ = false;

  // Send: produced bytes in fixed chunks (ngtcp2 keeps pointers into them until acknowledged).
  static constexpr std::size_t kChunkSize = 16384;
  std::shared_ptr<ByteProducer> producer_;
  std::deque<std::unique_ptr<uint8_t[]>> chunks_;
  uint64_t base_ = 0;     // stream offset of chunks_.front()
  uint64_t acked_ = 0;    // everything below is acknowledged
  uint64_t written_ = 0;  // everything below went to ngtcp2
  uint64_t filled_ = 0;   // everything below was produced
  bool producer_waiting_ = false;
  bool fin_pending_ = false;  // the producer ended; FIN goes after filled_
  bool fin_written_ = false;
  bool write_shut_ = false;  // reset, stopped by the peer, or closed: nothing more to send
  bool flow_blocked_ = false;
  bool closed_ = false;
  bool delivery_posted_ = false;
  bool untracked_ = false;  // resetBeforeOpen(): ngtcp2 has no stream of this ID
};

}  // namespace selium::net::quic
