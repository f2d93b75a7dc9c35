// HTTP/2 client side over nghttp2: SessionImpl (the H2ClientSession core, one Stream per running
// exchange) and H2ClientConnection (the session over a TLS stream, with its timers). See the
// "HTTP/2 client" part of README.md.
#include "net/http/client_h2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <map>
#include <string_view>
#include <utility>

#include "net/http/http_util.h"
#include "util/log.h"
#include "util/strings.h"

namespace selium::net::http {
namespace {

using Clock = std::chrono::steady_clock;
using detail::ClientConnectionContext;
using detail::ClientExchangeImpl;
constexpr std::string_view kLogTarget = "selium.net.http2.client";

// Header names that never go into a request's HEADERS from RequestHead::headers (the protocol
// writes its own) nor out of a response into ResponseHead::headers.
bool isConnectionHeader(std::string_view name) {
  return isConnectionLevelHeader(name) || name == "host" || name == "content-length";
}

std::string_view view(const uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

std::optional<uint64_t> parseNumber(std::string_view text) {
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

std::string inMs(std::chrono::milliseconds duration) {
  return std::to_string(duration.count()) + " ms";
}

// RFC 9110 9.3: methods whose requests carry content, so an empty one still says content-length.
bool anticipatesContent(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

// One running exchange's stream. Owned by the session's map until the exchange finishes; nghttp2
// only knows its id (no stream user data), so a stream the session dropped is never reached.
struct Stream {
  int32_t id = 0;
  std::shared_ptr<ClientExchangeImpl> exchange;

  // Request.
  bool has_body = false;
  std::optional<uint64_t> length;  // the declared request length
  uint64_t sent = 0;
  bool deferred = false;      // the producer said Wait
  bool headers_sent = false;  // our HEADERS went out
  bool request_sent = false;  // our END_STREAM went out
  Clock::time_point sent_at;
  Clock::time_point last_send_at;

  // Response head (the block being received, then the final one).
  bool in_head = false;     // receiving a response head block
  bool final_head = false;  // a final (2xx-9xx) head arrived whole
  int status = 0;
  std::vector<Header> headers;
  std::optional<uint64_t> content_length;
  bool length_invalid = false;
  std::size_t header_bytes = 0;
  std::size_t header_fields = 0;

  // Response body: received, not yet taken by the consumer (from pending_at on).
  std::vector<uint8_t> pending;
  std::size_t pending_at = 0;
  bool remote_ended = false;
  Clock::time_point last_body_at;

  bool closed = false;  // nghttp2 closed the stream
  uint32_t close_code = NGHTTP2_NO_ERROR;
  bool reset_by_server = false;
  std::string failure;  // why we end it (first reason wins)
  std::string invalid;  // nghttp2 found the server's frames on it invalid (and reset it)
  bool dirty = false;   // something to settle after nghttp2 returns
  bool delivering = false;

  std::size_t pendingSize() const { return pending.size() - pending_at; }
  void fail(std::string reason) {
    if (failure.empty()) failure = std::move(reason);
  }
};

class SessionImpl final : public H2ClientSession {
 public:
  SessionImpl(ClientLimits limits, std::string peer) : limits_(limits), peer_(std::move(peer)) {}
  ~SessionImpl() override;

  Status start() override;
  Status receive(std::span<const uint8_t> bytes) override;
  std::size_t produce(std::vector<uint8_t>& out, std::size_t max_bytes) override;
  bool alive() const override {
    return session_ != nullptr &&
           (nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_));
  }
  bool canStart() const override { return reusable() && streams_.size() < concurrency(); }
  bool reusable() const override {
    return session_ != nullptr && !shut_down_ && !goaway_received_ && !terminated_ &&
           nghttp2_session_check_request_allowed(session_) &&
           nghttp2_session_get_next_stream_id(session_) < (1u << 31) - 2;
  }
  void startExchange(std::shared_ptr<ClientExchangeImpl> exchange) override;
  void poll() override;
  std::optional<Clock::time_point> nextDeadline() const override;
  void expire(Clock::time_point now) override;
  void shutdown(uint32_t error_code, const std::string& reason) override;
  uint32_t failureCode() const override { return failure_code_; }
  void setOutputWanted(std::function<void()> callback) override {
    output_wanted_ = std::move(callback);
  }
  void setReady(std::function<void()> callback) override { ready_ = std::move(callback); }
  std::size_t runningExchanges() const override { return streams_.size(); }

 private:
  enum class Reset : uint8_t { Send, Skip };  // RST_STREAM CANCEL on an unclean finish?

  // Until the server's SETTINGS arrive its limit is unknown (it may be below nghttp2's guess of
  // 100, and a stream over it would be refused): one stream, the rest once they are here.
  std::size_t concurrency() const {
    if (!session_) return 0;
    if (!settings_received_) return 1;
    return std::min(
        H2ClientTuning::kMaxConcurrentStreams,
        nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
  }
  Stream* find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  void markDirty(Stream& stream) {
    if (stream.dirty) return;
    stream.dirty = true;
    dirty_.push_back(stream.id);
  }
  // After every nghttp2 call: settle the streams callbacks touched, notice a session nghttp2
  // terminated itself, and tell the owner.
  void afterNghttp2();
  void settle(Stream& stream);
  void deliverHead(Stream& stream);
  void deliverBody(Stream& stream);
  void finishStream(Stream& stream, bool clean, const std::string& reason, Reset reset);
  void release(Stream& stream, std::size_t n);
  void rebalanceConnectionCredit();
  enum class Timeout : uint8_t { Head, Body, Send };
  struct Deadline {
    Clock::time_point at;
    Timeout kind;
  };
  std::optional<Deadline> deadlineOf(const Stream& stream) const;
  bool takeControlToken();
  void wantOutput() { output_pending_ = true; }
  void wantReady() { ready_pending_ = true; }
  void notifyOwner() {
    if (output_pending_ && output_wanted_) {
      output_pending_ = false;
      output_wanted_();
    }
    if (ready_pending_ && ready_) {
      ready_pending_ = false;
      ready_();
    }
  }
  ssize_t readRequest(Stream& stream, uint8_t* buf, std::size_t length, uint32_t* data_flags);

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
  std::string protocolError(const std::string& detail) const {
    return "HTTP/2 protocol error from " + peer_ + ": " + detail;
  }

  static int onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* self) noexcept;
  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* self) noexcept;
  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onInvalidFrameRecv(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                void* self) noexcept;
  static int onDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                         size_t len, void* self) noexcept;
  static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* self) noexcept;
  static int onFrameNotSend(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                            void* self) noexcept;
  static int onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* self) noexcept;
  static int onError(nghttp2_session*, int lib_error, const char* msg, size_t len,
                     void* self) noexcept;
  static ssize_t onReadRequest(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                               uint32_t* data_flags, nghttp2_data_source*, void* self) noexcept;

  ClientLimits limits_;
  std::string peer_;
  nghttp2_session* session_ = nullptr;
  std::function<void()> output_wanted_;
  std::function<void()> ready_;
  bool output_pending_ = false;
  bool ready_pending_ = false;

  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<int32_t> dirty_;
  bool settling_ = false;

  // The header block being received (HEADERS + CONTINUATION): HPACK bomb and flood bounds.
  std::size_t header_block_raw_ = 0;
  std::size_t header_block_decoded_ = 0;

  std::size_t buffered_ = 0;  // response body bytes held in streams' buffers
  std::size_t withheld_ = 0;  // connection-level credit not yet given back
  double control_tokens_ = H2ClientTuning::kControlBurst;
  Clock::time_point control_tokens_at_ = Clock::now();

  bool settings_received_ = false;
  bool goaway_received_ = false;
  int32_t goaway_last_stream_ = 0;
  uint32_t goaway_code_ = NGHTTP2_NO_ERROR;
  bool terminated_ = false;    // nghttp2 sent a GOAWAY of its own (a protocol error)
  std::string library_error_;  // what nghttp2 last said about an error
  std::string last_invalid_;   // the last invalid frame nghttp2 reported
  bool shut_down_ = false;
  std::string failure_;
  uint32_t failure_code_ = NGHTTP2_PROTOCOL_ERROR;
};

SessionImpl::~SessionImpl() {
  shut_down_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& entry : streams) {
    entry.second->exchange->finish(false, "the connection is gone");
  }
  if (session_) nghttp2_session_del(session_);
}

Status SessionImpl::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return Error{"nghttp2: out of memory"};
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, onBeginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks, onInvalidFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, onFrameNotSend);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose);
  nghttp2_session_callbacks_set_error_callback2(callbacks, onError);

  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return Error{"nghttp2: out of memory"};
  }
  // Window updates only for bytes our consumers took: the response body's backpressure.
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_no_closed_streams(option, 1);
  nghttp2_option_set_max_outbound_ack(option, 1000);  // PING/SETTINGS floods: GOAWAY
  nghttp2_option_set_max_settings(option, 32);
  nghttp2_option_set_max_continuations(option, 16);
  nghttp2_option_set_max_reserved_remote_streams(option, 0);

  int rv = nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_option_del(option);
  if (rv != 0) {
    session_ = nullptr;
    return Error{std::string("nghttp2_session_client_new: ") + nghttp2_strerror(rv)};
  }

  // The header list size as RFC 9113 counts it (32 bytes per field) for the largest head we take.
  uint64_t header_list = limits_.max_header_bytes + 28 * uint64_t{limits_.max_headers};
  std::array<nghttp2_settings_entry, 4> settings{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2ClientTuning::kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<uint32_t>(std::min<uint64_t>(header_list, UINT32_MAX))},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  }};
  rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               H2ClientTuning::kConnectionWindow);
  }
  if (rv != 0) return Error{std::string("nghttp2 settings: ") + nghttp2_strerror(rv)};
  wantOutput();
  notifyOwner();
  return Ok{};
}

Status SessionImpl::receive(std::span<const uint8_t> bytes) {
  if (!session_) return Error{"HTTP/2 session not started"};
  if (shut_down_) return Ok{};
  library_error_.clear();
  last_invalid_.clear();
  ssize_t rv = nghttp2_session_mem_recv(session_, bytes.data(), bytes.size());
  if (rv < 0) {
    if (failure_.empty()) {
      failure_ = nghttp2_strerror(static_cast<int>(rv));
      failure_code_ =
          rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR;
    }
    std::string reason = protocolError(failure_);
    shutdown(failure_code_, reason);
    notifyOwner();
    return Error{reason};
  }
  afterNghttp2();
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
      if (n < 0) {
        // A fatal error: nothing more can be sent on this session.
        shutdown(failure_code_, protocolError(failure_));
        nghttp2_session_del(session_);
        session_ = nullptr;
      }
      break;
    }
    out.insert(out.end(), data, data + n);
  }
  afterNghttp2();
  return out.size() - start;
}

void SessionImpl::afterNghttp2() {
  // nghttp2 queues its own GOAWAY on a connection error: no request is allowed any more though
  // no GOAWAY came from the server. The exchanges fail with the protocol error, not with what
  // the invalid frame said about one stream.
  if (session_ && !shut_down_ && !terminated_ && !goaway_received_ &&
      nghttp2_session_get_next_stream_id(session_) <= INT32_MAX &&
      !nghttp2_session_check_request_allowed(session_)) {
    terminated_ = true;
  }
  if (terminated_ && !shut_down_) {
    std::string detail = !library_error_.empty()  ? library_error_
                         : !last_invalid_.empty() ? last_invalid_
                                                  : "the session was terminated";
    shutdown(failure_code_, protocolError(detail));
  }
  if (!settling_) {
    settling_ = true;
    while (!dirty_.empty()) {
      std::vector<int32_t> ids;
      ids.swap(dirty_);
      for (int32_t id : ids) {
        if (Stream* stream = find(id)) {
          stream->dirty = false;
          settle(*stream);
        }
      }
    }
    settling_ = false;
  }
  notifyOwner();
}

void SessionImpl::startExchange(std::shared_ptr<ClientExchangeImpl> exchange) {
  if (!exchange || exchange->finished()) return;
  auto refuse = [&](const std::string& reason) {
    exchange->finish(false, reason);
    wantReady();
    notifyOwner();
  };
  if (exchange->abandoned()) return refuse("reset by the application");
  if (!reusable()) {
    return refuse(goaway_received_ ? "the server refused the request (GOAWAY): not processed"
                                   : "the HTTP/2 connection to " + peer_ + " is closing");
  }
  const RequestHead& head = exchange->head();
  auto stream = std::make_unique<Stream>();
  stream->exchange = exchange;
  stream->has_body = exchange->body() != nullptr && head.content_length.value_or(1) != 0;
  stream->length = head.content_length;
  stream->last_send_at = Clock::now();

  std::string length;
  if (head.content_length &&
      (*head.content_length > 0 || stream->has_body || anticipatesContent(head.method))) {
    length = std::to_string(*head.content_length);
  }
  std::vector<std::string> names;  // lower-cased copies the nv entries point into
  names.reserve(head.headers.size());
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.headers.size() + 5);
  nva.push_back(makeNv(":method", head.method));
  nva.push_back(makeNv(":scheme", "https"));
  nva.push_back(makeNv(":authority", head.authority));
  nva.push_back(makeNv(":path", head.target));
  for (const Header& header : head.headers) {
    names.push_back(util::toLower(header.name));
    const std::string& name = names.back();
    if (name.empty() || name[0] == ':' || isConnectionHeader(name)) continue;
    if (!nghttp2_check_header_name(reinterpret_cast<const uint8_t*>(name.data()), name.size()) ||
        !nghttp2_check_header_value_rfc9113(reinterpret_cast<const uint8_t*>(header.value.data()),
                                            header.value.size())) {
      log::write(log::Level::Debug, kLogTarget, "request header left out: not valid in HTTP/2",
                 {{"name", util::quote(header.name)}, {"peer", peer_}});
      continue;
    }
    nva.push_back(makeNv(name, header.value));
  }
  if (!length.empty()) nva.push_back(makeNv("content-length", length));

  nghttp2_data_provider provider{};
  provider.read_callback = onReadRequest;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                      stream->has_body ? &provider : nullptr, nullptr);
  if (id < 0) return refuse(std::string("cannot start an HTTP/2 stream: ") + nghttp2_strerror(id));
  stream->id = id;
  streams_[id] = std::move(stream);
  wantOutput();
  notifyOwner();
}

void SessionImpl::poll() {
  std::vector<int32_t> ids;
  ids.reserve(streams_.size());
  for (auto& entry : streams_) ids.push_back(entry.first);
  auto now = Clock::now();
  for (int32_t id : ids) {
    Stream* stream = find(id);
    if (!stream) continue;
    if (stream->exchange->abandoned()) {
      finishStream(*stream, false, "reset by the application", Reset::Send);
      continue;
    }
    if (stream->deferred && session_ && !shut_down_ && !stream->closed) {
      stream->deferred = false;
      stream->last_send_at = now;
      nghttp2_session_resume_data(session_, id);
      wantOutput();
    }
    markDirty(*stream);
  }
  afterNghttp2();
}

ssize_t SessionImpl::onReadRequest(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                   uint32_t* data_flags, nghttp2_data_source*,
                                   void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  Stream* stream = self->find(stream_id);
  // A stream we dropped was reset: its data is never asked for again once the reset is out.
  if (!stream || stream->exchange->body() == nullptr) return NGHTTP2_ERR_DEFERRED;
  try {
    return self->readRequest(*stream, buf, length, data_flags);
  } catch (const std::exception& e) {
    stream->fail(std::string("the request body's producer failed: ") + e.what());
  } catch (...) {
    stream->fail("the request body's producer failed");
  }
  self->markDirty(*stream);
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

ssize_t SessionImpl::readRequest(Stream& stream, uint8_t* buf, std::size_t length,
                                 uint32_t* data_flags) {
  ByteProducer* producer = stream.exchange->body();
  // With a declared length, never ask for more than what is left, plus one byte to tell an
  // exact end from an overlong body.
  std::size_t ask = length;
  if (stream.length) ask = std::min<uint64_t>(length, *stream.length - stream.sent + 1);
  ByteProducer::Chunk chunk = producer->read(std::span<uint8_t>(buf, ask));
  switch (chunk.state) {
    case ByteProducer::State::Data:
      if (chunk.size == 0 || chunk.size > ask) {
        stream.fail("the request body's producer is broken (gave " + std::to_string(chunk.size) +
                    " bytes for " + std::to_string(ask) + ")");
        break;
      }
      if (stream.length && stream.sent + chunk.size > *stream.length) {
        stream.fail("the request body is longer than its content-length (" +
                    std::to_string(*stream.length) + ")");
        break;
      }
      stream.sent += chunk.size;
      stream.last_send_at = Clock::now();
      return static_cast<ssize_t>(chunk.size);
    case ByteProducer::State::Wait:
      stream.deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    case ByteProducer::State::End:
      if (stream.length && stream.sent != *stream.length) {
        stream.fail("the request body ended after " + std::to_string(stream.sent) + " of " +
                    std::to_string(*stream.length) + " bytes");
        break;
      }
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    case ByteProducer::State::Abort:
      stream.fail("the request body's producer failed");
      break;
  }
  markDirty(stream);
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM INTERNAL_ERROR
}

// What happened to a stream inside nghttp2, acted on outside it.
void SessionImpl::settle(Stream& stream) {
  if (!stream.invalid.empty()) stream.fail("malformed response: " + stream.invalid);
  if (!stream.failure.empty()) {
    return finishStream(stream, false, stream.failure, Reset::Send);
  }
  // A head that arrived whole goes to the application even if the stream then failed: it tells
  // more than an error would (the body's consumer sees the cut).
  if (stream.final_head && !stream.exchange->headDelivered()) deliverHead(stream);
  if (!stream.failure.empty()) {
    return finishStream(stream, false, stream.failure, Reset::Send);
  }
  if (stream.closed && stream.close_code != NGHTTP2_NO_ERROR) {
    std::string code = nghttp2_http2_strerror(stream.close_code);
    std::string reason;
    if (goaway_received_ && stream.id > goaway_last_stream_) {
      reason = "the server refused the request (GOAWAY): not processed";
    } else if (stream.reset_by_server) {
      reason = "the server reset the stream: " + code;
    } else {
      reason = "malformed response (stream reset: " + code + ")";
    }
    return finishStream(stream, false, reason, Reset::Skip);
  }
  if (stream.closed && !stream.remote_ended) {
    return finishStream(stream, false,
                        stream.reset_by_server ? "the server reset the stream: NO_ERROR"
                                               : "the response ended early",
                        Reset::Skip);
  }
  if (stream.closed && !stream.exchange->headDelivered()) {
    return finishStream(stream, false, "malformed response: the stream ended without a final head",
                        Reset::Skip);
  }
  deliverBody(stream);
  if (!stream.failure.empty()) {
    return finishStream(stream, false, stream.failure, Reset::Send);
  }
  if (stream.closed && stream.remote_ended && stream.pendingSize() == 0) {
    finishStream(stream, true, "", Reset::Skip);
  }
}

void SessionImpl::deliverHead(Stream& stream) {
  if (stream.length_invalid) {
    stream.fail("malformed response: invalid content-length");
    return;
  }
  ClientResponse response;
  response.version = 20;
  response.head.status = stream.status;
  response.head.headers = std::move(stream.headers);
  response.head.content_length = stream.content_length;
  stream.headers.clear();
  stream.last_body_at = Clock::now();
  stream.exchange->deliver(std::move(response));
}

void SessionImpl::deliverBody(Stream& stream) {
  ByteConsumer* consumer = stream.exchange->consumer();
  if (!consumer || stream.delivering || !stream.exchange->headDelivered()) return;
  stream.delivering = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{stream.delivering};
  while (stream.pendingSize() > 0 && !stream.exchange->abandoned()) {
    std::span<const uint8_t> bytes(stream.pending.data() + stream.pending_at, stream.pendingSize());
    std::size_t taken = 0;
    try {
      taken = std::min(consumer->offer(bytes), bytes.size());
    } catch (const std::exception& e) {
      stream.fail(std::string("the response body's consumer failed: ") + e.what());
      return;
    } catch (...) {
      stream.fail("the response body's consumer failed");
      return;
    }
    stream.pending_at += taken;
    release(stream, taken);
    if (stream.pending_at == stream.pending.size()) {
      stream.pending.clear();
      stream.pending_at = 0;
    } else if (stream.pending_at > stream.pending.size() / 2) {
      stream.pending.erase(stream.pending.begin(),
                           stream.pending.begin() + static_cast<std::ptrdiff_t>(stream.pending_at));
      stream.pending_at = 0;
    }
    if (taken < bytes.size()) break;  // full: the rest waits for resumeBody()
  }
}

// Bytes left the stream's buffer (taken, or dropped with it): the server may send that many more.
void SessionImpl::release(Stream& stream, std::size_t n) {
  if (n == 0) return;
  buffered_ -= std::min(buffered_, n);
  if (session_ && !stream.closed && !shut_down_) {
    nghttp2_session_consume_stream(session_, stream.id, n);
  }
  rebalanceConnectionCredit();
  wantOutput();  // WINDOW_UPDATE
}

// Connection-level credit goes back at once while the connection's buffered body bytes are
// under the cap (so one stalled stream does not stall the others); past it, it is withheld.
void SessionImpl::rebalanceConnectionCredit() {
  std::size_t target = buffered_ > H2ClientTuning::kBufferedBodyCap
                           ? buffered_ - H2ClientTuning::kBufferedBodyCap
                           : 0;
  if (withheld_ > target && session_ && !shut_down_) {
    nghttp2_session_consume_connection(session_, withheld_ - target);
    withheld_ = target;
  }
}

void SessionImpl::finishStream(Stream& stream, bool clean, const std::string& reason, Reset reset) {
  auto owned = std::move(streams_[stream.id]);
  streams_.erase(stream.id);
  if (!clean && reset == Reset::Send && !stream.closed && session_ && !shut_down_) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_CANCEL);
    wantOutput();
  }
  stream.closed = true;  // no stream credit for what it held
  release(stream, stream.pendingSize());
  stream.pending.clear();
  if (!clean) {
    log::write(log::Level::Debug, kLogTarget, "request failed",
               {{"peer", peer_}, {"stream", stream.id}, {"reason", reason}});
  }
  owned->exchange->finish(clean, reason);
  wantReady();
}

std::optional<SessionImpl::Deadline> SessionImpl::deadlineOf(const Stream& stream) const {
  std::optional<Deadline> deadline;
  auto consider = [&](Clock::time_point at, Timeout kind) {
    if (!deadline || at < deadline->at) deadline = Deadline{at, kind};
  };
  if (stream.closed || shut_down_) return std::nullopt;
  if (stream.request_sent && !stream.final_head) {
    consider(stream.sent_at + limits_.response_timeout, Timeout::Head);
  }
  if (stream.final_head && !stream.remote_ended && stream.pendingSize() == 0) {
    consider(stream.last_body_at + limits_.body_timeout, Timeout::Body);
  }
  if (stream.has_body && stream.headers_sent && !stream.request_sent && !stream.deferred) {
    consider(stream.last_send_at + limits_.send_timeout, Timeout::Send);
  }
  return deadline;
}

std::optional<Clock::time_point> SessionImpl::nextDeadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& entry : streams_) {
    auto deadline = deadlineOf(*entry.second);
    if (deadline && (!next || deadline->at < *next)) next = deadline->at;
  }
  return next;
}

void SessionImpl::expire(Clock::time_point now) {
  std::vector<std::pair<int32_t, Timeout>> due;
  for (const auto& entry : streams_) {
    auto deadline = deadlineOf(*entry.second);
    if (deadline && deadline->at <= now) due.emplace_back(entry.first, deadline->kind);
  }
  for (auto [id, kind] : due) {
    Stream* stream = find(id);
    if (!stream) continue;
    if (kind == Timeout::Send && session_ &&
        nghttp2_session_get_stream_remote_window_size(session_, id) > 0 &&
        nghttp2_session_get_remote_window_size(session_) > 0) {
      // Credit is there: what holds the body back is the socket (the connection's send timer
      // covers that) or our own queue, not the server's flow control.
      stream->last_send_at = now;
      continue;
    }
    std::string reason;
    switch (kind) {
      case Timeout::Head:
        reason = "no response head within " + inMs(limits_.response_timeout);
        break;
      case Timeout::Body:
        reason = "no response body byte within " + inMs(limits_.body_timeout);
        break;
      case Timeout::Send:
        reason = "the server took none of the request body within " + inMs(limits_.send_timeout) +
                 " (flow control)";
        break;
    }
    finishStream(*stream, false, reason, Reset::Send);
  }
  afterNghttp2();
}

void SessionImpl::shutdown(uint32_t error_code, const std::string& reason) {
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<int32_t> ids;
  for (auto& entry : streams_) ids.push_back(entry.first);
  for (int32_t id : ids) {
    Stream* stream = find(id);
    // A response that arrived whole stays until its consumer has taken it (poll()).
    bool complete = stream->closed && stream->close_code == NGHTTP2_NO_ERROR &&
                    stream->remote_ended && stream->failure.empty() &&
                    stream->exchange->headDelivered();
    if (!complete) finishStream(*stream, false, reason, Reset::Skip);
  }
  if (session_ && !terminated_) nghttp2_session_terminate_session(session_, error_code);
  wantOutput();
  wantReady();
}

bool SessionImpl::takeControlToken() {
  auto now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - control_tokens_at_).count();
  control_tokens_at_ = now;
  control_tokens_ = std::min(H2ClientTuning::kControlBurst,
                             control_tokens_ + elapsed * H2ClientTuning::kControlPerSecond);
  if (control_tokens_ < 1) return false;
  control_tokens_ -= 1;
  return true;
}

// Every nghttp2 callback: noexcept, anything thrown becomes a connection failure. None calls
// the application (the producer's read() aside, which only copies): they record, settle() acts.
int SessionImpl::onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    bool idle_frame = false;
    switch (hd->type) {
      case NGHTTP2_HEADERS:
        self->header_block_raw_ = hd->length;
        self->header_block_decoded_ = 0;
        break;
      case NGHTTP2_CONTINUATION:
        self->header_block_raw_ += hd->length;
        idle_frame = hd->length == 0;
        break;
      case NGHTTP2_DATA:
        idle_frame = hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM);
        break;
      case NGHTTP2_WINDOW_UPDATE:
      case NGHTTP2_GOAWAY:
        break;
      default:  // PING, SETTINGS, PRIORITY, RST_STREAM, PUSH_PROMISE, extensions
        idle_frame = true;
        break;
    }
    if (idle_frame && !self->takeControlToken()) {
      return self->fail(NGHTTP2_ENHANCE_YOUR_CALM,
                        "flood of frames carrying nothing (type " + std::to_string(hd->type) + ")");
    }
    // HPACK can only shrink a block so much: a raw block this big is a flood, not a response.
    std::size_t hard_cap = 4 * self->limits_.max_header_bytes + (64 << 10);
    if (self->header_block_raw_ > hard_cap) {
      return self->fail(NGHTTP2_ENHANCE_YOUR_CALM,
                        "header block over " + std::to_string(hard_cap) + " bytes");
    }
    return 0;
  });
}

int SessionImpl::onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    Stream* stream = self->find(frame->hd.stream_id);
    if (!stream || frame->hd.type != NGHTTP2_HEADERS) return 0;
    // A head (the first, or the one after an interim 1xx); after the final head: trailers.
    stream->in_head = !stream->final_head;
    if (stream->in_head) {
      stream->status = 0;
      stream->headers.clear();
      stream->content_length.reset();
      stream->length_invalid = false;
      stream->header_bytes = 0;
      stream->header_fields = 0;
    }
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
    Stream* stream = self->find(frame->hd.stream_id);
    if (!stream || !stream->in_head || !stream->failure.empty()) return 0;
    std::string_view key = view(name, namelen);
    std::string_view text = view(value, valuelen);
    stream->header_bytes += namelen + valuelen + 4;
    ++stream->header_fields;
    const ClientLimits& limits = self->limits_;
    if (stream->header_bytes > limits.max_header_bytes) {
      stream->fail("response head too large: over " + std::to_string(limits.max_header_bytes) +
                   " bytes");
    } else if (stream->header_fields > limits.max_headers) {
      stream->fail("response head too large: over " + std::to_string(limits.max_headers) +
                   " fields");
    }
    if (!stream->failure.empty()) {
      self->markDirty(*stream);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM; the rest of the block ignored
    }
    if (!key.empty() && key[0] == ':') {
      if (key == ":status") {
        auto status = parseNumber(text);
        stream->status = status && *status >= 100 && *status <= 999 ? static_cast<int>(*status) : 0;
      }
      return 0;
    }
    if (key == "content-length") {
      auto length = parseNumber(text);
      if (!length || (stream->content_length && *stream->content_length != *length)) {
        stream->length_invalid = true;
      } else {
        stream->content_length = length;
      }
    } else if (!isConnectionHeader(key)) {
      stream->headers.push_back({std::string(key), std::string(text)});  // nghttp2: lower-case
    }
    return 0;
  });
}

int SessionImpl::onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        Stream* stream = self->find(frame->hd.stream_id);
        if (!stream) return 0;
        if (stream->in_head) {
          stream->in_head = false;
          if (stream->status == 0) {
            stream->fail("malformed response: no valid :status");
          } else if (stream->status >= 200) {
            stream->final_head = true;
          }  // else an interim 1xx head: dropped, the final one follows
        }
        if (end_stream) stream->remote_ended = true;
        self->markDirty(*stream);
        return 0;
      }
      case NGHTTP2_DATA: {
        Stream* stream = self->find(frame->hd.stream_id);
        if (!stream) return 0;
        if (end_stream) stream->remote_ended = true;
        self->markDirty(*stream);
        return 0;
      }
      case NGHTTP2_RST_STREAM: {
        Stream* stream = self->find(frame->hd.stream_id);
        if (stream) stream->reset_by_server = true;
        return 0;
      }
      case NGHTTP2_SETTINGS:
        // The server's limits changed: the Client may start more (or fewer) exchanges.
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
          self->settings_received_ = true;
          self->wantReady();
        }
        return 0;
      case NGHTTP2_GOAWAY:
        // Streams above last_stream_id are closed (REFUSED_STREAM) right after this returns.
        self->goaway_received_ = true;
        self->goaway_last_stream_ = frame->goaway.last_stream_id;
        self->goaway_code_ = frame->goaway.error_code;
        self->wantReady();
        return 0;
      default:
        return 0;
    }
  });
}

int SessionImpl::onInvalidFrameRecv(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                    void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    log::write(log::Level::Debug, kLogTarget, "invalid frame from the server",
               {{"peer", self->peer_},
                {"type", int{frame->hd.type}},
                {"stream", frame->hd.stream_id},
                {"error", nghttp2_strerror(lib_error)}});
    self->last_invalid_ = std::string(nghttp2_strerror(lib_error)) + " (frame type " +
                          std::to_string(frame->hd.type) + ")";
    if (Stream* stream = self->find(frame->hd.stream_id)) {
      stream->invalid = nghttp2_strerror(lib_error);
      self->markDirty(*stream);
    }
    return 0;
  });
}

int SessionImpl::onDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                             const uint8_t* data, size_t len, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    Stream* stream = self->find(stream_id);
    if (!stream || !stream->failure.empty()) {
      nghttp2_session_consume(session, stream_id, len);
      return 0;
    }
    stream->pending.insert(stream->pending.end(), data, data + len);
    stream->last_body_at = Clock::now();
    self->buffered_ += len;
    self->withheld_ += len;
    self->rebalanceConnectionCredit();
    self->markDirty(*stream);
    return 0;
  });
}

int SessionImpl::onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    if (frame->hd.type == NGHTTP2_GOAWAY && !self->shut_down_) {
      // nghttp2 ended the session on its own: the server broke the protocol.
      self->terminated_ = true;
      self->failure_code_ = frame->goaway.error_code;
      return 0;
    }
    Stream* stream = self->find(frame->hd.stream_id);
    if (!stream) return 0;
    auto now = Clock::now();
    if (frame->hd.type == NGHTTP2_HEADERS) {
      stream->headers_sent = true;
      stream->last_send_at = now;
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      stream->request_sent = true;
      stream->sent_at = now;
    }
    return 0;
  });
}

int SessionImpl::onFrameNotSend(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    Stream* stream = self->find(frame->hd.stream_id);
    if (!stream || frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (self->goaway_received_) {
      stream->fail("the server refused the request (GOAWAY): not processed");
    } else {
      stream->fail(std::string("the request could not be sent: ") + nghttp2_strerror(lib_error));
    }
    self->markDirty(*stream);
    return 0;
  });
}

int SessionImpl::onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                               void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    Stream* stream = self->find(stream_id);
    if (!stream) return 0;
    stream->closed = true;
    stream->close_code = error_code;
    self->markDirty(*stream);
    return 0;
  });
}

int SessionImpl::onError(nghttp2_session*, int, const char* msg, size_t len, void* user) noexcept {
  auto* self = static_cast<SessionImpl*>(user);
  return self->guarded([&]() -> int {
    self->library_error_.assign(msg, std::min<std::size_t>(len, 200));
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// H2ClientConnection: a SessionImpl over a TLS stream.

class H2ClientConnection final : public detail::ClientConnection,
                                 public std::enable_shared_from_this<H2ClientConnection> {
 public:
  H2ClientConnection(std::unique_ptr<TlsStream> stream, ClientConnectionContext context)
      : stream_(std::move(stream)),
        context_(std::move(context)),
        timer_(*context_.loop),
        send_timer_(*context_.loop) {}

  void begin() {
    session_ = H2ClientSession::create(context_.limits, context_.info.remote_address);
    std::weak_ptr<H2ClientConnection> weak = shared_from_this();
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
    session_->setReady([this, weak] {
      if (ready_posted_) return;
      ready_posted_ = true;
      boost::asio::post(*context_.loop, [weak] {
        auto self = weak.lock();
        if (!self) return;
        self->ready_posted_ = false;
        if (self->context_.events.on_ready) self->context_.events.on_ready();
      });
    });
    if (auto status = session_->start(); !status) {
      log::write(log::Level::Warn, kLogTarget, status.error().message);
      finishClose("HTTP/2 session setup failed: " + status.error().message);
      return;
    }
    readMore();
  }

  bool canStart() const override { return !closing_ && session_ && session_->canStart(); }
  bool reusable() const override { return !closing_ && session_ && session_->reusable(); }

  void start(std::shared_ptr<ClientExchangeImpl> exchange) override {
    if (!exchange) return;
    exchange->bind(weak_from_this());
    session_->startExchange(std::move(exchange));  // refuses it when closing
    updateTimer();
  }

  void wake() override {
    if (wake_posted_ || !session_) return;
    wake_posted_ = true;
    boost::asio::post(*context_.loop, [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self) return;
      self->wake_posted_ = false;
      self->session_->poll();
      self->flush();
      self->updateTimer();
    });
  }

  void close(const std::string& reason) override { beginClose(NGHTTP2_NO_ERROR, reason); }

  const ClientConnectionInfo& info() const override { return context_.info; }

 private:
  void readMore() {
    if (closing_) return;
    stream_->async_read_some(boost::asio::buffer(read_buffer_),
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         std::size_t n) { self->onRead(ec, n); });
  }

  void onRead(const boost::system::error_code& ec, std::size_t n) {
    if (closing_) return;
    if (ec) {
      bool eof = ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
      finishClose(eof ? "the server closed the connection"
                      : "reading from " + context_.info.remote_address + ": " + ec.message());
      return;
    }
    if (auto status = session_->receive({read_buffer_.data(), n}); !status) {
      log::write(log::Level::Debug, kLogTarget, status.error().message,
                 {{"peer", context_.info.remote_address}});
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
    session_->produce(write_buffer_, H2ClientTuning::kWriteChunk);
    if (write_buffer_.empty()) {
      if (closing_) {
        finishClose(close_reason_);
      } else if (!session_->alive()) {
        beginClose(NGHTTP2_NO_ERROR,
                   "the HTTP/2 session with " + context_.info.remote_address + " is over (GOAWAY)");
      }
      return;
    }
    writing_ = true;
    send_timer_.expires_after(
        closing_ ? std::min<std::chrono::milliseconds>(context_.limits.send_timeout, kCloseGrace)
                 : context_.limits.send_timeout);
    send_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || !self->writing_) return;
      self->finishClose("the server reads nothing (send timeout after " +
                        inMs(self->context_.limits.send_timeout) + ")");
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
      finishClose("writing to " + context_.info.remote_address + ": " + ec.message());
      return;
    }
    flush();
    updateTimer();
  }

  void updateTimer() {
    auto next = closing_ || !session_ ? std::nullopt : session_->nextDeadline();
    if (next == armed_) return;
    armed_ = next;
    if (!next) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(*next);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->onTimer();
    });
  }

  void onTimer() {
    armed_.reset();
    if (closing_ || !session_) return;
    session_->expire(Clock::now());
    flush();
    updateTimer();
  }

  // Ends every exchange with `reason`, sends GOAWAY (bounded by kCloseGrace), then closes.
  void beginClose(uint32_t code, std::string reason) {
    if (closing_ || closed_) return;
    closing_ = true;
    close_reason_ = std::move(reason);
    timer_.cancel();
    armed_.reset();
    if (session_) session_->shutdown(code, close_reason_);
    if (!writing_) flush();
  }

  void finishClose(std::string reason) {
    if (closed_) return;
    closed_ = true;
    closing_ = true;
    if (close_reason_.empty()) close_reason_ = std::move(reason);
    if (session_) session_->shutdown(NGHTTP2_NO_ERROR, close_reason_);
    timer_.cancel();
    send_timer_.cancel();
    boost::system::error_code ignored;
    stream_->lowest_layer().shutdown(TcpSocket::shutdown_both, ignored);
    stream_->lowest_layer().close(ignored);
    if (auto on_closed = std::move(context_.events.on_closed)) {
      context_.events.on_closed = nullptr;
      boost::asio::post(*context_.loop, std::move(on_closed));
    }
  }

  static constexpr std::chrono::milliseconds kCloseGrace{1000};

  std::unique_ptr<TlsStream> stream_;
  ClientConnectionContext context_;
  // Outlives the socket: responses that arrived whole are still drained after a close.
  std::unique_ptr<H2ClientSession> session_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer send_timer_;
  std::optional<Clock::time_point> armed_;
  std::array<uint8_t, 16 << 10> read_buffer_{};
  std::vector<uint8_t> write_buffer_;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool ready_posted_ = false;
  bool wake_posted_ = false;
  bool closing_ = false;  // no more reads; close once the GOAWAY is written
  bool closed_ = false;   // socket closed, on_closed posted
  std::string close_reason_;
};

}  // namespace

std::unique_ptr<H2ClientSession> H2ClientSession::create(ClientLimits limits, std::string peer) {
  return std::make_unique<SessionImpl>(limits, std::move(peer));
}

namespace detail {

std::shared_ptr<ClientConnection> startH2ClientConnection(std::unique_ptr<TlsStream> stream,
                                                          ClientConnectionContext context) {
  auto connection = std::make_shared<H2ClientConnection>(std::move(stream), std::move(context));
  connection->begin();
  return connection;
}

}  // namespace detail
}  // namespace selium::net::http
