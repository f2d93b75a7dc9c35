// HTTP/2 server side over nghttp2: SessionImpl (the H2Session core), H2Exchange (one per stream)
// and H2Connection (the session over a TLS stream with its timers). See README-h2.md.
#include "net/http/h2_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "net/http/http_util.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::net::http {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kLogTarget = "selium.net.http2";

// Header names that never cross into a RequestHead or out of a ResponseHead (exchange.h).
bool isConnectionHeader(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" || name == "te" ||
         name == "http2-settings" || name == "host" || name == "content-length";
}

std::string_view view(const uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

std::optional<uint64_t> parseLength(std::string_view text) {
  uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

nghttp2_nv makeNv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

// Runs code that reaches the application (handler, consumer, producer, onFinished) from the
// loop: whatever it throws is logged here and never unwinds into asio or nghttp2. False if it
// threw.
template <typename Body>
bool shielded(int32_t stream_id, Body&& body) noexcept {
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    log::write(log::Level::Error, kLogTarget, "exception from the application",
               {{"stream", stream_id}, {"error", e.what()}});
  } catch (...) {
    log::write(log::Level::Error, kLogTarget, "exception from the application",
               {{"stream", stream_id}});
  }
  return false;
}

class SessionImpl;

// One stream's exchange. Owned by the session's stream map while the stream is open, and by the
// application (shared_ptr) as long as it wants; session_ is null once the stream is over.
class H2Exchange final : public Exchange {
 public:
  H2Exchange(SessionImpl* session, int32_t stream_id);
  ~H2Exchange() override;

  boost::asio::io_context& loop() override { return *loop_; }
  const RequestHead& head() const override { return head_; }
  const PeerInfo& peer() const override { return *peer_; }
  void setBodyConsumer(std::shared_ptr<BodyConsumer> consumer) override;
  void resumeBody() override;
  bool respond(ResponseHead head, std::shared_ptr<BodyProducer> body) override;
  void resumeResponse() override;
  void reset() override;
  bool finished() const override { return finished_; }
  void onFinished(std::function<void(bool clean)> callback) override;

  // --- the session's side ---
  // A header field of the request head (not trailers).
  int onHeader(std::string_view name, std::string_view value);
  void onHeadComplete();  // END_HEADERS: answer it ourselves or hand it to the handler
  void onData(const uint8_t* data, std::size_t size);
  void deliverBody();
  void onBodyTooLarge();
  void onResponseSent();  // our END_STREAM went out
  void onStreamClosed(uint32_t error_code);
  // The session goes away: the exchange ends cut short.
  void abandon();
  ssize_t readResponse(uint8_t* buf, std::size_t length, uint32_t* data_flags);

  int32_t id() const { return id_; }
  bool remoteEnded() const { return remote_ended_; }
  void setRemoteEnded() { remote_ended_ = true; }
  void markStreamClosed() { stream_closed_ = true; }
  void setNoBody() { no_body_in_head_ = true; }

 private:
  void hostRespond(int status);
  bool submitResponse(const ResponseHead& head, std::shared_ptr<BodyProducer> body);
  enum class Notify : uint8_t { Now, Later };  // the consumer's end(false): now, or at close
  void discardBody(Notify notify);
  void finish(bool clean);
  void endConsumer(bool complete);
  void armTimer();
  void onTimer();
  std::size_t pendingSize() const { return pending_.size() - pending_at_; }
  // A response body is under way, not waiting for its producer, and (given `now`) has sent
  // nothing for the send timeout; with time_point::max(): whether such a deadline runs at all.
  bool sendStalled(Clock::time_point now) const;

  SessionImpl* session_;
  boost::asio::io_context* loop_;
  std::shared_ptr<const PeerInfo> peer_;
  const int32_t id_;
  RequestHead head_;

  // Head accounting (ServerLimits::max_header_bytes, max_headers).
  std::size_t header_bytes_ = 0;
  std::size_t header_fields_ = 0;
  bool head_too_large_ = false;
  std::string host_;
  bool content_length_invalid_ = false;
  bool no_body_in_head_ = false;  // END_STREAM on HEADERS

  // Request body.
  std::shared_ptr<BodyConsumer> consumer_;
  std::vector<uint8_t> pending_;  // received, not yet taken (from pending_at_ on)
  std::size_t pending_at_ = 0;
  bool pending_counted_ = true;  // pending_ is part of the session's buffered total
  uint64_t received_ = 0;
  bool remote_ended_ = false;
  bool discard_body_ = false;
  bool delivering_ = false;
  bool consumer_ended_ = false;
  Clock::time_point last_body_at_;

  // Response.
  bool dispatched_ = false;  // handed to the application
  bool responded_ = false;   // a response (ours or the application's) was submitted, or reset
  bool host_responded_ = false;
  bool reset_ = false;
  bool response_sent_ = false;  // END_STREAM went out
  std::shared_ptr<BodyProducer> producer_;
  std::optional<uint64_t> response_length_;
  uint64_t response_sent_bytes_ = 0;
  bool deferred_ = false;
  bool in_read_ = false;
  bool resume_in_read_ = false;
  bool reset_in_read_ = false;
  Clock::time_point dispatched_at_;
  Clock::time_point last_send_at_;  // the producer last gave data (or the response began)

  bool stream_closed_ = false;
  bool finished_ = false;
  bool finish_notified_ = false;
  bool finished_clean_ = false;
  std::function<void(bool)> on_finished_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::shared_ptr<std::size_t> live_;  // the session's count of dispatched exchanges alive

  friend class SessionImpl;
};

class SessionImpl final : public H2Session {
 public:
  SessionImpl(boost::asio::io_context& loop, ServerLimits limits, RequestHandler handler,
              PeerInfo peer);
  ~SessionImpl() override;

  Status start() override;
  Status receive(std::span<const uint8_t> bytes) override;
  std::size_t produce(std::vector<uint8_t>& out, std::size_t max_bytes) override;
  bool alive() const override {
    return session_ != nullptr &&
           (nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_));
  }
  void shutdown(uint32_t error_code) override;
  uint32_t failureCode() const override { return failure_code_; }
  void setOutputWanted(std::function<void()> callback) override {
    output_wanted_ = std::move(callback);
  }
  std::size_t openStreams() const override { return streams_.size(); }
  bool sawRequest() const override { return saw_request_; }
  std::optional<Clock::time_point> headerBlockSince() const override { return header_block_since_; }
  Clock::time_point idleSince() const override { return idle_since_; }
  std::size_t liveExchanges() const override { return *live_; }

  // --- for exchanges ---
  boost::asio::io_context& loop() { return loop_; }
  const ServerLimits& limits() const { return limits_; }
  const std::shared_ptr<const PeerInfo>& peer() const { return peer_; }
  const std::shared_ptr<std::size_t>& liveCounter() const { return live_; }
  nghttp2_session* raw() { return session_; }
  H2Exchange* openExchange(int32_t stream_id) {
    auto it = streams_.find(stream_id);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  void wantOutput() {
    if (output_wanted_) output_wanted_();
  }
  bool mayDispatch() const {
    return handler_ &&
           *live_ < std::size_t{limits_.max_h2_streams} * H2Tuning::kLiveExchangesPerStream;
  }
  void dispatch(std::shared_ptr<H2Exchange> exchange) { handler_(std::move(exchange)); }
  // Body bytes received into an exchange's buffer, taken out of it, or dropped with it.
  void bodyBuffered(std::size_t n);
  void bodyReleased(int32_t stream_id, std::size_t n, bool stream_open);
  void rstStream(int32_t stream_id, uint32_t code);

  enum class Event : uint8_t { Head, Body, BodyTooLarge, ResponseSent, Closed };
  void queue(std::shared_ptr<H2Exchange> exchange, Event event, uint32_t code = 0) {
    events_.push_back({std::move(exchange), event, code});
  }

 private:
  struct QueuedEvent {
    std::shared_ptr<H2Exchange> exchange;
    Event event;
    uint32_t code;
  };
  void drainEvents();
  void rebalanceConnectionCredit();
  bool takeResetToken();
  H2Exchange* exchangeOf(int32_t stream_id) {
    return static_cast<H2Exchange*>(nghttp2_session_get_stream_user_data(session_, stream_id));
  }
  // Runs an nghttp2 callback's body: anything it throws fails the connection, never nghttp2.
  template <typename Body>
  int guarded(Body&& body) noexcept {
    try {
      return body();
    } catch (const std::exception& e) {
      return fail(NGHTTP2_INTERNAL_ERROR, std::string("internal error: ") + e.what());
    } catch (...) {
      return fail(NGHTTP2_INTERNAL_ERROR, "internal error");
    }
  }
  int fail(uint32_t code, std::string message) noexcept {
    if (failure_.empty()) {
      failure_.swap(message);
      failure_code_ = code;
    }
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }

  static int onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self) noexcept;
  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* self) noexcept;
  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                         size_t len, void* self) noexcept;
  static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* self) noexcept;

  boost::asio::io_context& loop_;
  ServerLimits limits_;
  RequestHandler handler_;
  std::shared_ptr<const PeerInfo> peer_;
  nghttp2_session* session_ = nullptr;
  std::function<void()> output_wanted_;

  std::unordered_map<int32_t, std::shared_ptr<H2Exchange>> streams_;
  std::deque<QueuedEvent> events_;
  bool draining_ = false;
  std::shared_ptr<std::size_t> live_ = std::make_shared<std::size_t>(0);

  bool saw_request_ = false;
  std::optional<Clock::time_point> header_block_since_;
  int32_t header_block_stream_ = 0;
  std::size_t header_block_raw_ = 0;
  std::size_t header_block_decoded_ = 0;
  Clock::time_point idle_since_ = Clock::now();

  std::size_t buffered_ = 0;  // request body bytes held in exchanges' buffers
  std::size_t withheld_ = 0;  // connection-level credit not yet given back
  double reset_tokens_ = H2Tuning::kResetBurst;
  Clock::time_point reset_tokens_at_ = Clock::now();

  bool shut_down_ = false;
  std::string failure_;
  uint32_t failure_code_ = NGHTTP2_PROTOCOL_ERROR;
};

// ---------------------------------------------------------------------------------------------
// H2Exchange

H2Exchange::H2Exchange(SessionImpl* session, int32_t stream_id)
    : session_(session), loop_(&session->loop()), peer_(session->peer()), id_(stream_id) {
  head_.version = 20;
}

H2Exchange::~H2Exchange() {
  if (live_) --*live_;
}

bool H2Exchange::sendStalled(Clock::time_point now) const {
  return producer_ && !deferred_ && !response_sent_ && session_ &&
         (now == Clock::time_point::max() ||
          now >= last_send_at_ + session_->limits().send_timeout);
}

void H2Exchange::setBodyConsumer(std::shared_ptr<BodyConsumer> consumer) {
  if (consumer_ || !consumer || consumer_ended_) return;
  consumer_ = std::move(consumer);
  deliverBody();
}

void H2Exchange::resumeBody() { deliverBody(); }

void H2Exchange::deliverBody() {
  if (!consumer_ || delivering_ || consumer_ended_ || discard_body_) return;
  auto self = std::static_pointer_cast<H2Exchange>(shared_from_this());
  delivering_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{delivering_};
  while (pendingSize() > 0 && !consumer_ended_) {
    std::span<const uint8_t> bytes(pending_.data() + pending_at_, pendingSize());
    std::size_t taken = std::min(consumer_->offer(bytes), bytes.size());
    if (consumer_ended_ || discard_body_) break;  // reset or cut off during offer()
    pending_at_ += taken;
    if (pending_at_ == pending_.size()) {
      pending_.clear();
      pending_at_ = 0;
    } else if (pending_at_ > pending_.size() / 2) {
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(pending_at_));
      pending_at_ = 0;
    }
    if (taken > 0 && session_ && pending_counted_) {
      session_->bodyReleased(id_, taken, !stream_closed_);
    }
    if (taken < bytes.size()) break;  // full: the rest waits for resumeBody()
  }
  if (pendingSize() == 0 && remote_ended_ && !consumer_ended_ && !discard_body_) {
    endConsumer(true);
  }
}

void H2Exchange::endConsumer(bool complete) {
  if (consumer_ended_) return;
  consumer_ended_ = true;
  auto consumer = std::move(consumer_);
  if (consumer) consumer->end(complete);
}

bool H2Exchange::respond(ResponseHead head, std::shared_ptr<BodyProducer> body) {
  if (responded_ || finished_ || session_ == nullptr || stream_closed_) return false;
  if (head.status < 200 || head.status > 999) return false;
  return submitResponse(head, std::move(body));
}

bool H2Exchange::submitResponse(const ResponseHead& head, std::shared_ptr<BodyProducer> body) {
  responded_ = true;
  std::string status = std::to_string(head.status);
  bool bodiless = head_.method == "HEAD" || head.status == 204 || head.status == 304;
  bool send_body = !bodiless && body != nullptr && head.content_length.value_or(1) != 0;
  std::string length;
  if (head.content_length && head.status != 204 && head.status != 304 &&
      (send_body || bodiless || *head.content_length == 0)) {
    length = std::to_string(*head.content_length);
  } else if (!send_body && !bodiless) {
    length = "0";
  }

  std::vector<std::string> names;  // lower-cased copies the nv entries point into
  names.reserve(head.headers.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.headers.size() + 3);
  nva.push_back(makeNv(":status", status));
  bool dated = false;
  for (const Header& header : head.headers) {
    names.push_back(util::toLower(header.name));
    const std::string& name = names.back();
    if (name.empty() || name[0] == ':' || isConnectionHeader(name)) continue;
    dated = dated || name == "date";
    // Names and values that HTTP/2 cannot carry are left out rather than sent malformed.
    if (!nghttp2_check_header_name(reinterpret_cast<const uint8_t*>(name.data()), name.size()) ||
        !nghttp2_check_header_value_rfc9113(reinterpret_cast<const uint8_t*>(header.value.data()),
                                            header.value.size())) {
      log::write(log::Level::Debug, kLogTarget, "response header left out: not valid in HTTP/2",
                 {{"name", util::quote(header.name)}, {"stream", id_}});
      continue;
    }
    nva.push_back(makeNv(name, header.value));
  }
  if (!length.empty()) nva.push_back(makeNv("content-length", length));
  const std::string date = httpDate();  // copied by nghttp2 when submitted, like every field
  if (!dated) nva.push_back(makeNv("date", date));

  nghttp2_data_provider provider{};
  if (send_body) {
    last_send_at_ = Clock::now();
    producer_ = std::move(body);
    response_length_ = head.content_length;
    // The exchange is found by stream id, not through a pointer nghttp2 keeps: an exchange the
    // session has let go of (shut down) is never called.
    provider.read_callback = [](nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                uint32_t* data_flags, nghttp2_data_source*,
                                void* user) noexcept -> ssize_t {
      try {
        H2Exchange* exchange = static_cast<SessionImpl*>(user)->openExchange(stream_id);
        if (!exchange) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return exchange->readResponse(buf, length, data_flags);
      } catch (...) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
    };
  }
  int rv = nghttp2_submit_response(session_->raw(), id_, nva.data(), nva.size(),
                                   send_body ? &provider : nullptr);
  if (rv != 0) {
    producer_.reset();
    return false;
  }
  if (timer_) armTimer();  // the response timeout no longer applies; the body timeout may
  session_->wantOutput();
  return true;
}

ssize_t H2Exchange::readResponse(uint8_t* buf, std::size_t length, uint32_t* data_flags) {
  if (reset_in_read_ || !producer_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  auto self = std::static_pointer_cast<H2Exchange>(shared_from_this());
  in_read_ = true;
  ByteProducer::Chunk chunk = producer_->read(std::span<uint8_t>(buf, length));
  in_read_ = false;
  if (reset_in_read_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  switch (chunk.state) {
    case ByteProducer::State::Data: {
      if (chunk.size == 0 || chunk.size > length) break;  // a broken producer: abort below
      response_sent_bytes_ += chunk.size;
      last_send_at_ = Clock::now();
      if (response_length_ && response_sent_bytes_ > *response_length_) {
        log::write(log::Level::Debug, kLogTarget, "response body longer than its content-length",
                   {{"stream", id_}, {"content_length", *response_length_}});
        break;
      }
      return static_cast<ssize_t>(chunk.size);
    }
    case ByteProducer::State::Wait:
      if (resume_in_read_) {
        // resumeResponse() ran inside read(): ask again on the next turn.
        resume_in_read_ = false;
        boost::asio::post(*loop_, [weak = std::weak_ptr<H2Exchange>(self)] {
          if (auto exchange = weak.lock()) exchange->resumeResponse();
        });
      }
      deferred_ = true;
      return NGHTTP2_ERR_DEFERRED;
    case ByteProducer::State::End:
      if (response_length_ && response_sent_bytes_ != *response_length_) {
        log::write(log::Level::Debug, kLogTarget, "response body shorter than its content-length",
                   {{"stream", id_}, {"content_length", *response_length_}});
        break;
      }
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      producer_.reset();
      return 0;
    case ByteProducer::State::Abort:
      break;
  }
  producer_.reset();
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM INTERNAL_ERROR
}

void H2Exchange::resumeResponse() {
  if (in_read_) {
    resume_in_read_ = true;
    return;
  }
  if (!deferred_ || session_ == nullptr || stream_closed_) return;
  deferred_ = false;
  last_send_at_ = Clock::now();
  nghttp2_session_resume_data(session_->raw(), id_);
  if (dispatched_) armTimer();
  session_->wantOutput();
}

void H2Exchange::reset() {
  if (reset_ || finished_) return;
  reset_ = true;
  responded_ = true;
  if (timer_) timer_->cancel();
  if (in_read_) {
    reset_in_read_ = true;
  } else if (session_ != nullptr && !stream_closed_) {
    session_->rstStream(id_, NGHTTP2_INTERNAL_ERROR);
  }
  discardBody(Notify::Later);
  finished_ = true;  // the consumer's end(false) and onFinished(false) run when the stream closes
}

void H2Exchange::onFinished(std::function<void(bool clean)> callback) {
  if (finish_notified_) {
    if (callback) callback(finished_clean_);
    return;
  }
  on_finished_ = std::move(callback);
}

void H2Exchange::finish(bool clean) {
  if (finish_notified_) return;
  finished_ = true;
  finish_notified_ = true;
  finished_clean_ = clean;
  if (timer_) timer_->cancel();
  producer_.reset();
  auto callback = std::move(on_finished_);
  if (callback) callback(clean);
}

int H2Exchange::onHeader(std::string_view name, std::string_view value) {
  header_bytes_ += name.size() + value.size() + 4;
  ++header_fields_;
  const ServerLimits& limits = session_->limits();
  if (header_bytes_ > limits.max_header_bytes || header_fields_ > limits.max_headers) {
    head_too_large_ = true;
  }
  if (head_too_large_) return 0;  // answered with 431: keep nothing more
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") {
      head_.method = value;
    } else if (name == ":path") {
      head_.target = value;
    } else if (name == ":authority") {
      head_.authority = util::toLower(value);
    } else if (name == ":scheme") {
      head_.scheme = util::toLower(value);
    }
    return 0;
  }
  if (name == "host") {
    host_ = util::toLower(value);
  } else if (name == "content-length") {
    auto length = parseLength(value);
    if (!length || (head_.content_length && *head_.content_length != *length)) {
      content_length_invalid_ = true;
    } else {
      head_.content_length = length;
    }
  } else if (!isConnectionHeader(name)) {
    head_.headers.push_back({std::string(name), std::string(value)});  // nghttp2: lower-case
  }
  return 0;
}

void H2Exchange::onHeadComplete() {
  if (stream_closed_ || session_ == nullptr || responded_) return;
  if (no_body_in_head_ && !head_.content_length) head_.content_length = 0;
  if (head_.authority.empty()) head_.authority = host_;
  if (content_length_invalid_) {
    session_->rstStream(id_, NGHTTP2_PROTOCOL_ERROR);
    responded_ = true;
    return;
  }
  if (head_too_large_) return hostRespond(431);
  if (head_.authority.empty()) return hostRespond(400);
  if (head_.method == "CONNECT") return hostRespond(501);
  if ((head_.content_length && *head_.content_length > session_->limits().max_body_bytes) ||
      received_ > session_->limits().max_body_bytes) {
    return hostRespond(413);
  }
  if (!session_->mayDispatch()) {
    // Too many exchanges still held by the application: the client may retry this one.
    session_->rstStream(id_, NGHTTP2_REFUSED_STREAM);
    responded_ = true;
    discardBody(Notify::Now);
    return;
  }
  dispatched_ = true;
  live_ = session_->liveCounter();
  ++*live_;
  dispatched_at_ = Clock::now();
  last_body_at_ = dispatched_at_;
  armTimer();
  session_->dispatch(std::static_pointer_cast<H2Exchange>(shared_from_this()));
}

void H2Exchange::hostRespond(int status) {
  host_responded_ = true;
  discardBody(Notify::Now);
  ResponseHead head;
  head.status = status;
  head.content_length = 0;
  submitResponse(head, nullptr);
}

void H2Exchange::discardBody(Notify notify) {
  discard_body_ = true;
  std::size_t dropped = pendingSize();
  pending_.clear();
  pending_.shrink_to_fit();
  pending_at_ = 0;
  if (dropped > 0 && session_ && pending_counted_) {
    session_->bodyReleased(id_, dropped, !stream_closed_);
  }
  if (dispatched_ && notify == Notify::Now) endConsumer(false);
}

void H2Exchange::onData(const uint8_t* data, std::size_t size) {
  received_ += size;
  last_body_at_ = Clock::now();
  if (!discard_body_ && received_ > session_->limits().max_body_bytes) {
    // Answered (413 or RST_STREAM) from the event queue, outside nghttp2.
    discard_body_ = true;
    session_->queue(std::static_pointer_cast<H2Exchange>(shared_from_this()),
                    SessionImpl::Event::BodyTooLarge);
  }
  if (discard_body_) {
    nghttp2_session_consume(session_->raw(), id_, size);
    return;
  }
  pending_.insert(pending_.end(), data, data + size);
  session_->bodyBuffered(size);
}

void H2Exchange::onBodyTooLarge() {
  if (stream_closed_ || session_ == nullptr) return;
  log::write(log::Level::Debug, kLogTarget, "request body over the limit",
             {{"stream", id_}, {"limit", session_->limits().max_body_bytes}});
  if (!responded_) {
    hostRespond(413);
  } else {
    session_->rstStream(id_, NGHTTP2_CANCEL);
    discardBody(Notify::Now);
  }
}

void H2Exchange::onResponseSent() {
  response_sent_ = true;
  // The client is still sending a body that nobody will read: stop it (RFC 9113 8.1).
  if (!remote_ended_ && !stream_closed_ && session_ && (host_responded_ || !consumer_)) {
    session_->rstStream(id_, NGHTTP2_NO_ERROR);
  }
}

void H2Exchange::onStreamClosed(uint32_t error_code) {
  stream_closed_ = true;
  if (pending_counted_ && session_) {
    // The buffered bytes are no longer under the stream's flow control.
    session_->bodyReleased(id_, pendingSize(), false);
  }
  pending_counted_ = false;
  session_ = nullptr;
  shielded(id_, [&] {
    if (remote_ended_ && !discard_body_ && !reset_) {
      deliverBody();  // what is buffered is the complete body; the consumer may still take it
    } else {
      pending_.clear();
      endConsumer(false);
    }
  });
  finish(response_sent_ && !host_responded_ && !reset_ && error_code == NGHTTP2_NO_ERROR);
}

void H2Exchange::abandon() {
  if (!stream_closed_ && session_) {
    stream_closed_ = true;
    nghttp2_session_set_stream_user_data(session_->raw(), id_, nullptr);
  }
  stream_closed_ = true;
  pending_counted_ = false;
  session_ = nullptr;
  if (!remote_ended_ || discard_body_) {
    pending_.clear();
    shielded(id_, [&] { endConsumer(false); });
  }
  finish(false);
}

void H2Exchange::armTimer() {
  const ServerLimits& limits = session_->limits();
  std::optional<Clock::time_point> deadline;
  if (!responded_) deadline = dispatched_at_ + limits.response_timeout;
  if (!remote_ended_ && pendingSize() == 0) {
    // Waiting for the peer (not for our consumer): the body timeout runs.
    auto body_deadline = last_body_at_ + limits.body_timeout;
    deadline = deadline ? std::min(*deadline, body_deadline) : body_deadline;
  }
  if (sendStalled(Clock::time_point::max())) {
    // Body data ready but nothing taken by the peer's flow control: a reader that stalls.
    auto send_deadline = last_send_at_ + limits.send_timeout;
    deadline = deadline ? std::min(*deadline, send_deadline) : send_deadline;
  }
  if (!deadline) {
    if (timer_) timer_->cancel();
    return;
  }
  if (!timer_) timer_ = std::make_unique<boost::asio::steady_timer>(*loop_);
  timer_->expires_at(*deadline);
  timer_->async_wait([weak = std::weak_ptr<H2Exchange>(std::static_pointer_cast<H2Exchange>(
                          shared_from_this()))](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto exchange = weak.lock()) {
      if (!shielded(exchange->id(), [&] { exchange->onTimer(); })) {
        shielded(exchange->id(), [&] { exchange->reset(); });
      }
    }
  });
}

void H2Exchange::onTimer() {
  if (finished_ || stream_closed_ || session_ == nullptr) return;
  const ServerLimits& limits = session_->limits();
  auto now = Clock::now();
  if (!responded_ && now >= dispatched_at_ + limits.response_timeout) {
    log::write(log::Level::Debug, kLogTarget, "no response in time: 504",
               {{"stream", id_}, {"target", util::quote(head_.target)}});
    hostRespond(504);
  } else if (!remote_ended_ && pendingSize() == 0 && now >= last_body_at_ + limits.body_timeout) {
    log::write(log::Level::Debug, kLogTarget, "request body stalled",
               {{"stream", id_}, {"target", util::quote(head_.target)}});
    if (!responded_) {
      hostRespond(408);
    } else {
      session_->rstStream(id_, NGHTTP2_CANCEL);
      discardBody(Notify::Now);
    }
  } else if (sendStalled(now)) {
    log::write(log::Level::Debug, kLogTarget, "peer takes no response data (flow control)",
               {{"stream", id_}, {"target", util::quote(head_.target)}});
    session_->rstStream(id_, NGHTTP2_CANCEL);
    producer_.reset();
  }
  if (session_) session_->wantOutput();
  if (!finished_ && !stream_closed_ && session_) armTimer();
}

// ---------------------------------------------------------------------------------------------
// SessionImpl

SessionImpl::SessionImpl(boost::asio::io_context& loop, ServerLimits limits, RequestHandler handler,
                         PeerInfo peer)
    : loop_(loop),
      limits_(limits),
      handler_(std::move(handler)),
      peer_(std::make_shared<const PeerInfo>(std::move(peer))) {}

SessionImpl::~SessionImpl() {
  shut_down_ = true;
  auto streams = std::move(streams_);
  auto events = std::move(events_);
  for (auto& entry : streams) {
    H2Exchange& exchange = *entry.second;  // (clang 14 cannot capture structured bindings)
    shielded(entry.first, [&] { exchange.abandon(); });
  }
  for (auto& event : events) shielded(0, [&] { event.exchange->abandon(); });
  if (session_) nghttp2_session_del(session_);
}

Status SessionImpl::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return Error{"nghttp2: out of memory"};
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, onBeginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
      callbacks,
      [](nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user) -> int {
        log::write(log::Level::Debug, kLogTarget, "invalid frame from the peer",
                   {{"peer", static_cast<SessionImpl*>(user)->peer_->remote_address},
                    {"type", int{frame->hd.type}},
                    {"stream", frame->hd.stream_id},
                    {"error", nghttp2_strerror(lib_error)}});
        return 0;
      });

  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return Error{"nghttp2: out of memory"};
  }
  // Window updates only for bytes our consumers took: this is the request body's backpressure.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_option_set_max_outbound_ack(option, 1000);  // PING/SETTINGS floods: GOAWAY
  nghttp2_option_set_max_settings(option, 32);

  int rv = nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_option_del(option);
  if (rv != 0) {
    session_ = nullptr;
    return Error{std::string("nghttp2_session_server_new: ") + nghttp2_strerror(rv)};
  }

  // The header list size as RFC 9113 counts it (32 bytes per field) for the largest head we take.
  uint64_t header_list = limits_.max_header_bytes + 28 * uint64_t{limits_.max_headers};
  std::array<nghttp2_settings_entry, 4> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_h2_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2Tuning::kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<uint32_t>(std::min<uint64_t>(header_list, UINT32_MAX))},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  }};
  rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               H2Tuning::kConnectionWindow);
  }
  if (rv != 0) return Error{std::string("nghttp2 settings: ") + nghttp2_strerror(rv)};
  return Ok{};
}

Status SessionImpl::receive(std::span<const uint8_t> bytes) {
  if (!session_) return Error{"HTTP/2 session not started"};
  if (shut_down_) return Ok{};
  ssize_t rv = nghttp2_session_mem_recv(session_, bytes.data(), bytes.size());
  if (header_block_since_ && !streams_.count(header_block_stream_)) {
    // A block nghttp2 ignores (refused or closed stream) never reaches on_frame_recv, so its end
    // is not seen: stop timing it; the idle and response timers still bound the connection.
    header_block_since_.reset();
  }
  drainEvents();
  if (rv < 0) {
    if (failure_.empty()) {
      failure_ = nghttp2_strerror(static_cast<int>(rv));
      failure_code_ =
          rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
    }
    return Error{"HTTP/2 from " + peer_->remote_address + ": " + failure_};
  }
  return Ok{};
}

std::size_t SessionImpl::produce(std::vector<uint8_t>& out, std::size_t max_bytes) {
  if (!session_) return 0;
  std::size_t start = out.size();
  while (out.size() - start < max_bytes) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) {
      if (n < 0 && failure_.empty()) {
        failure_ =
            std::string("nghttp2_session_mem_send: ") + nghttp2_strerror(static_cast<int>(n));
        failure_code_ = NGHTTP2_INTERNAL_ERROR;
      }
      break;
    }
    out.insert(out.end(), data, data + n);
  }
  drainEvents();
  return out.size() - start;
}

void SessionImpl::shutdown(uint32_t error_code) {
  if (shut_down_ || !session_) return;
  shut_down_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& entry : streams) {
    H2Exchange& exchange = *entry.second;  // (clang 14 cannot capture structured bindings)
    shielded(entry.first, [&] { exchange.abandon(); });
  }
  for (auto& event : events_) shielded(0, [&] { event.exchange->abandon(); });
  events_.clear();
  nghttp2_session_terminate_session(session_, error_code);
}

void SessionImpl::drainEvents() {
  if (draining_) return;
  draining_ = true;
  while (!events_.empty() && !shut_down_) {
    QueuedEvent event = std::move(events_.front());
    events_.pop_front();
    H2Exchange& exchange = *event.exchange;
    bool ok = shielded(exchange.id(), [&] {
      switch (event.event) {
        case Event::Head:
          exchange.onHeadComplete();
          break;
        case Event::Body:
          exchange.deliverBody();
          break;
        case Event::BodyTooLarge:
          exchange.onBodyTooLarge();
          break;
        case Event::ResponseSent:
          exchange.onResponseSent();
          break;
        case Event::Closed:
          exchange.onStreamClosed(event.code);
          break;
      }
    });
    if (!ok) shielded(exchange.id(), [&] { exchange.reset(); });
  }
  draining_ = false;
}

void SessionImpl::bodyBuffered(std::size_t n) {
  buffered_ += n;
  withheld_ += n;
  rebalanceConnectionCredit();
}

void SessionImpl::bodyReleased(int32_t stream_id, std::size_t n, bool stream_open) {
  buffered_ -= std::min(buffered_, n);
  if (stream_open && session_) nghttp2_session_consume_stream(session_, stream_id, n);
  rebalanceConnectionCredit();
  wantOutput();  // WINDOW_UPDATE
}

// Connection-level credit goes back at once while the connection's buffered body bytes are
// under the cap (so one stalled stream does not stall the others); past it, it is withheld.
void SessionImpl::rebalanceConnectionCredit() {
  std::size_t target =
      buffered_ > H2Tuning::kBufferedBodyCap ? buffered_ - H2Tuning::kBufferedBodyCap : 0;
  if (withheld_ > target && session_) {
    nghttp2_session_consume_connection(session_, withheld_ - target);
    withheld_ = target;
  }
}

void SessionImpl::rstStream(int32_t stream_id, uint32_t code) {
  if (!session_ || shut_down_) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, code);
  wantOutput();
}

bool SessionImpl::takeResetToken() {
  auto now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - reset_tokens_at_).count();
  reset_tokens_at_ = now;
  reset_tokens_ =
      std::min(H2Tuning::kResetBurst, reset_tokens_ + elapsed * H2Tuning::kResetsPerSecond);
  if (reset_tokens_ < 1) return false;
  reset_tokens_ -= 1;
  return true;
}

// Every nghttp2 callback: noexcept, anything thrown becomes a connection failure.
int SessionImpl::onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    if (hd->type != NGHTTP2_CONTINUATION) self->header_block_since_.reset();
    if (hd->type == NGHTTP2_HEADERS) {
      self->header_block_since_ = Clock::now();
      self->header_block_stream_ = hd->stream_id;
      self->header_block_raw_ = hd->length;
      self->header_block_decoded_ = 0;
    } else if (hd->type == NGHTTP2_CONTINUATION) {
      self->header_block_raw_ += hd->length;
    }
    // HPACK can only shrink a block so much: a raw block this big is a flood, not a request.
    std::size_t hard_cap = 4 * self->limits_.max_header_bytes + (64 << 10);
    if (self->header_block_raw_ > hard_cap) {
      return self->fail(NGHTTP2_ENHANCE_YOUR_CALM,
                        "header block over " + std::to_string(hard_cap) + " bytes");
    }
    return 0;
  });
}

int SessionImpl::onBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame,
                                void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto exchange = std::make_shared<H2Exchange>(self, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, exchange.get());
    self->streams_[frame->hd.stream_id] = std::move(exchange);
    return 0;
  });
}

int SessionImpl::onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                          size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                          void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    // Decoded size: what an HPACK bomb (tiny references to a big table entry) inflates.
    self->header_block_decoded_ += namelen + valuelen + 32;
    std::size_t hard_cap = 4 * self->limits_.max_header_bytes + (64 << 10);
    if (self->header_block_decoded_ > hard_cap) {
      return self->fail(NGHTTP2_ENHANCE_YOUR_CALM,
                        "header list over " + std::to_string(hard_cap) + " bytes decoded");
    }
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;  // trailers: not part of the contract, dropped
    }
    H2Exchange* exchange = self->exchangeOf(frame->hd.stream_id);
    if (!exchange) return 0;
    return exchange->onHeader(view(name, namelen), view(value, valuelen));
  });
}

int SessionImpl::onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        self->header_block_since_.reset();
        auto it = self->streams_.find(frame->hd.stream_id);
        if (it == self->streams_.end()) return 0;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          self->saw_request_ = true;
          if (end_stream) it->second->setNoBody();
          self->queue(it->second, Event::Head);
        }
        if (end_stream) {
          it->second->setRemoteEnded();
          self->queue(it->second, Event::Body);
        }
        return 0;
      }
      case NGHTTP2_DATA: {
        if (frame->hd.length == 0 && !end_stream && !self->takeResetToken()) {
          return self->fail(NGHTTP2_ENHANCE_YOUR_CALM, "flood of empty DATA frames");
        }
        auto it = self->streams_.find(frame->hd.stream_id);
        if (it == self->streams_.end()) return 0;
        if (end_stream) it->second->setRemoteEnded();
        self->queue(it->second, Event::Body);
        return 0;
      }
      case NGHTTP2_RST_STREAM:
        if (!self->takeResetToken()) {
          return self->fail(NGHTTP2_ENHANCE_YOUR_CALM, "too many RST_STREAM frames (rapid reset)");
        }
        return 0;
      default:
        return 0;
    }
  });
}

int SessionImpl::onDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                             const uint8_t* data, size_t len, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    H2Exchange* exchange = self->exchangeOf(stream_id);
    if (!exchange) {
      nghttp2_session_consume(session, stream_id, len);
      return 0;
    }
    exchange->onData(data, len);
    return 0;
  });
}

int SessionImpl::onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      auto it = self->streams_.find(frame->hd.stream_id);
      if (it != self->streams_.end()) self->queue(it->second, Event::ResponseSent);
    }
    return 0;
  });
}

int SessionImpl::onStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                               void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    auto it = self->streams_.find(stream_id);
    if (it == self->streams_.end()) return 0;
    auto exchange = std::move(it->second);
    self->streams_.erase(it);
    nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
    exchange->markStreamClosed();
    if (self->streams_.empty()) self->idle_since_ = Clock::now();
    self->queue(std::move(exchange), Event::Closed, error_code);
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// H2Connection: an H2Session over a TLS stream.

class H2Connection final : public Connection, public std::enable_shared_from_this<H2Connection> {
 public:
  H2Connection(std::unique_ptr<TlsStream> stream, ConnectionContext context)
      : stream_(std::move(stream)),
        context_(std::move(context)),
        timer_(*context_.loop),
        send_timer_(*context_.loop) {}

  void start() {
    session_ = H2Session::create(*context_.loop, context_.limits, context_.handler, context_.peer);
    std::weak_ptr<H2Connection> weak = shared_from_this();
    session_->setOutputWanted([this, weak] {
      if (flush_posted_ || closed_) return;
      flush_posted_ = true;
      boost::asio::post(*context_.loop, [weak] {
        if (auto self = weak.lock()) {
          self->flush_posted_ = false;
          self->flush();
          self->updateTimer();
        }
      });
    });
    if (auto status = session_->start(); !status) {
      log::write(log::Level::Warn, kLogTarget, status.error().message);
      finishClose("session setup failed");
      return;
    }
    flush();
    updateTimer();
    readMore();
  }

  void close() override { beginClose(NGHTTP2_NO_ERROR, "closed by the server"); }

 private:
  void readMore() {
    if (closed_) return;
    stream_->async_read_some(boost::asio::buffer(read_buffer_),
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         std::size_t n) { self->onRead(ec, n); });
  }

  void onRead(const boost::system::error_code& ec, std::size_t n) {
    if (closed_) return;
    if (ec) {
      // EOF, or the TLS stream failed: nothing more can be sent either.
      if (session_) session_->shutdown(NGHTTP2_NO_ERROR);
      finishClose(ec == boost::asio::error::eof ? "peer closed" : ec.message());
      return;
    }
    if (closing_) {
      readMore();  // draining until the peer closes or the linger ends: see lingerClose()
      return;
    }
    if (auto status = session_->receive({read_buffer_.data(), n}); !status) {
      log::write(log::Level::Debug, kLogTarget, status.error().message,
                 {{"peer", context_.peer.remote_address}});
      beginClose(session_->failureCode(), status.error().message);
      return;
    }
    flush();
    updateTimer();
    readMore();
  }

  void flush() {
    if (closed_ || writing_ || !session_) return;
    write_buffer_.clear();
    session_->produce(write_buffer_, H2Tuning::kWriteChunk);
    if (write_buffer_.empty()) {
      if (closing_) {
        lingerClose();
      } else if (!session_->alive()) {
        beginClose(NGHTTP2_NO_ERROR, "session over");
      }
      return;
    }
    writing_ = true;
    send_timer_.expires_after(
        closing_ ? std::min<std::chrono::milliseconds>(context_.limits.send_timeout, kCloseGrace)
                 : context_.limits.send_timeout);
    send_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || !self->writing_) return;
      self->finishClose("peer reads nothing (send timeout)");
    });
    boost::asio::async_write(*stream_, boost::asio::buffer(write_buffer_),
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         std::size_t) { self->onWritten(ec); });
  }

  void onWritten(const boost::system::error_code& ec) {
    writing_ = false;
    send_timer_.cancel();
    if (closed_) return;
    if (ec) {
      if (session_) session_->shutdown(NGHTTP2_NO_ERROR);
      finishClose("write failed: " + ec.message());
      return;
    }
    flush();
    updateTimer();
  }

  // The connection's own deadline: the first request's head, a header block in progress, or
  // idleness with no stream open.
  std::optional<Clock::time_point> deadline() const {
    if (closing_ || closed_ || !session_) return std::nullopt;
    const ServerLimits& limits = context_.limits;
    if (auto since = session_->headerBlockSince()) return *since + limits.header_timeout;
    if (!session_->sawRequest()) return started_ + limits.header_timeout;
    if (session_->openStreams() == 0) return session_->idleSince() + limits.idle_timeout;
    return std::nullopt;
  }

  void updateTimer() {
    auto next = deadline();
    if (next == armed_) return;
    armed_ = next;
    if (!next) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(*next);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->onTimer();
    });
  }

  void onTimer() {
    if (lingering_) {
      finishClose(close_reason_);
      return;
    }
    armed_.reset();
    auto due = deadline();
    if (due && Clock::now() >= *due) {
      bool idle = session_->sawRequest() && !session_->headerBlockSince();
      log::write(log::Level::Debug, kLogTarget, idle ? "idle timeout" : "header timeout",
                 {{"peer", context_.peer.remote_address}});
      beginClose(NGHTTP2_NO_ERROR, idle ? "idle timeout" : "header timeout");
      return;
    }
    updateTimer();
  }

  void beginClose(uint32_t code, std::string reason) {
    if (closing_ || closed_) return;
    closing_ = true;
    close_reason_ = std::move(reason);
    timer_.cancel();
    armed_.reset();
    if (session_) session_->shutdown(code);
    if (!writing_) flush();
    // flush() closes once the GOAWAY is out; the send timer bounds that.
  }

  // The GOAWAY is out. Closing now, with the peer's bytes unread, would make the kernel send a
  // TCP reset that can destroy the GOAWAY before the peer reads it; so shut our side down and
  // read (discarding) until the peer closes too, for at most kLinger.
  void lingerClose() {
    if (lingering_ || closed_) return;
    lingering_ = true;
    boost::system::error_code ignored;
    stream_->lowest_layer().shutdown(TcpSocket::shutdown_send, ignored);
    armed_.reset();
    timer_.expires_after(kLinger);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->onTimer();
    });
  }

  void finishClose(std::string reason) {
    if (closed_) return;
    closed_ = true;
    closing_ = true;
    if (close_reason_.empty()) close_reason_ = std::move(reason);
    if (session_) session_->shutdown(NGHTTP2_NO_ERROR);
    timer_.cancel();
    send_timer_.cancel();
    boost::system::error_code ignored;
    stream_->lowest_layer().shutdown(TcpSocket::shutdown_both, ignored);
    stream_->lowest_layer().close(ignored);
    if (auto on_closed = std::move(context_.on_closed)) {
      boost::asio::post(*context_.loop, std::move(on_closed));
    }
  }

  static constexpr std::chrono::milliseconds kCloseGrace{2000};
  static constexpr std::chrono::milliseconds kLinger{1000};

  std::unique_ptr<TlsStream> stream_;
  ConnectionContext context_;
  std::unique_ptr<H2Session> session_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer send_timer_;
  std::optional<Clock::time_point> armed_;
  Clock::time_point started_ = Clock::now();
  std::array<uint8_t, 16 << 10> read_buffer_{};
  std::vector<uint8_t> write_buffer_;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;    // GOAWAY queued: no more reads, close once it is written
  bool lingering_ = false;  // GOAWAY written, our side shut down, draining the peer's bytes
  bool closed_ = false;     // socket closed, on_closed posted
  std::string close_reason_;
};

}  // namespace

std::unique_ptr<H2Session> H2Session::create(boost::asio::io_context& loop, ServerLimits limits,
                                             RequestHandler handler, PeerInfo peer) {
  return std::make_unique<SessionImpl>(loop, limits, std::move(handler), std::move(peer));
}

std::shared_ptr<Connection> startH2Connection(std::unique_ptr<TlsStream> stream,
                                              ConnectionContext context) {
  auto connection = std::make_shared<H2Connection>(std::move(stream), std::move(context));
  connection->start();
  return connection;
}

}  // namespace selium::net::http
