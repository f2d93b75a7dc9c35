#include "net/quic/connection.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <array>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>

#include "net/address.h"
#include "net/quic/endpoint.h"

namespace selium::net::quic {
namespace {

using boost::asio::ip::udp;

// At most this many datagrams per write burst; ngtcp2's pacing timer continues after.
constexpr std::size_t kMaxBurst = 64;
// Packet buffer: ngtcp2 writes up to max_tx_udp_payload_size (1452 by default) bytes.
constexpr std::size_t kMaxPacket = 1500;

ConnectionImpl* self(void* user_data) { return static_cast<ConnectionImpl*>(user_data); }

// Every ngtcp2 callback is a noexcept trampoline: anything thrown fails the connection.
template <typename F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (...) {
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
}

void randomBytes(uint8_t* out, std::size_t size) {
  if (gnutls_rnd(GNUTLS_RND_RANDOM, out, size) != 0) {
    // GnuTLS's generator does not fail once initialised; never hand out predictable IDs.
    std::abort();
  }
}

void rand(uint8_t* dest, size_t size, const ngtcp2_rand_ctx*) {
  (void)gnutls_rnd(GNUTLS_RND_NONCE, dest, size);
}

ngtcp2_conn* getConn(ngtcp2_crypto_conn_ref* ref) {
  return static_cast<ConnectionImpl*>(ref->user_data)->raw();
}

int handshakeCompleted(ngtcp2_conn*, void* user_data) {
  return guarded([&] { return self(user_data)->onHandshakeCompleted(); });
}

int streamOpen(ngtcp2_conn*, int64_t stream_id, void* user_data) {
  return guarded([&] { return self(user_data)->onStreamOpen(stream_id); });
}

int recvStreamData(ngtcp2_conn*, uint32_t flags, int64_t stream_id, uint64_t, const uint8_t* data,
                   size_t size, void* user_data, void*) {
  return guarded([&] { return self(user_data)->onStreamData(flags, stream_id, data, size); });
}

int ackedStreamDataOffset(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t size, void* user_data,
                          void*) {
  return guarded([&] { return self(user_data)->onAckedStreamData(stream_id, size); });
}

int streamClose(ngtcp2_conn*, uint32_t, int64_t stream_id, uint64_t, void* user_data, void*) {
  return guarded([&] { return self(user_data)->onStreamClose(stream_id); });
}

int streamReset(ngtcp2_conn*, int64_t stream_id, uint64_t, uint64_t, void* user_data, void*) {
  return guarded([&] { return self(user_data)->onStreamReset(stream_id); });
}

int streamStopSending(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data, void*) {
  return guarded([&] { return self(user_data)->onStreamStopSending(stream_id); });
}

int extendMaxStreamData(ngtcp2_conn*, int64_t stream_id, uint64_t, void* user_data, void*) {
  return guarded([&] { return self(user_data)->onExtendMaxStreamData(stream_id); });
}

int extendMaxLocalStreamsBidi(ngtcp2_conn*, uint64_t, void* user_data) {
  return guarded([&] { return self(user_data)->onExtendMaxLocalStreams(); });
}

int getNewConnectionId(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cid_size,
                       void* user_data) {
  return guarded([&] { return self(user_data)->onNewConnectionId(cid, token, cid_size); });
}

int removeConnectionId(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
  return guarded([&] { return self(user_data)->onRemoveConnectionId(cid); });
}

ngtcp2_callbacks callbacks(bool server) {
  ngtcp2_callbacks cb{};
  if (server) {
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb.extend_max_local_streams_bidi = extendMaxLocalStreamsBidi;
  }
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  // A server is established when its handshake completes; a client only when the server confirms
  // it (HANDSHAKE_DONE), which comes after the server checked the client certificate: with TLS
  // 1.3 the client finishes first and would otherwise report success for a refused certificate.
  if (server) {
    cb.handshake_completed = handshakeCompleted;
  } else {
    cb.handshake_confirmed = handshakeCompleted;
  }
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.recv_stream_data = recvStreamData;
  cb.acked_stream_data_offset = ackedStreamDataOffset;
  cb.stream_open = streamOpen;
  cb.stream_close = streamClose;
  cb.rand = rand;
  cb.get_new_connection_id = getNewConnectionId;
  cb.remove_connection_id = removeConnectionId;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.stream_reset = streamReset;
  cb.extend_max_stream_data = extendMaxStreamData;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.stream_stop_sending = streamStopSending;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  return cb;
}

udp::endpoint toEndpoint(const ngtcp2_addr& addr) {
  udp::endpoint endpoint;
  if (addr.addrlen <= endpoint.capacity()) {
    std::memcpy(endpoint.data(), addr.addr, addr.addrlen);
    endpoint.resize(addr.addrlen);
  }
  return endpoint;
}

std::string errorText(int liberr) { return ngtcp2_strerror(liberr); }

}  // namespace

ngtcp2_tstamp timestampNow() {
  return static_cast<ngtcp2_tstamp>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

ConnectionImpl::ConnectionImpl(EndpointImpl& endpoint, const Limits& limits)
    : endpoint_(&endpoint), loop_(endpoint.loop()), limits_(limits), timer_(endpoint.loop()) {
  tls_.conn_ref.get_conn = getConn;
  tls_.conn_ref.user_data = this;
}

ConnectionImpl::~ConnectionImpl() {
  // A client connection the application dropped while open: tell the peer (best effort).
  if (conn_ != nullptr && endpoint_ != nullptr && state_ < State::Closing &&
      !ngtcp2_conn_is_in_draining_period(conn_)) {
    ngtcp2_connection_close_error error;
    ngtcp2_connection_close_error_default(&error);
    std::array<uint8_t, kMaxPacket> packet;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info info{};
    const ngtcp2_ssize size = ngtcp2_conn_write_connection_close(
        conn_, &ps.path, &info, packet.data(), packet.size(), &error, timestampNow());
    if (size > 0) {
      endpoint_->send(std::span(packet.data(), static_cast<std::size_t>(size)),
                      toEndpoint(ps.path.remote));
    }
  }
  for (auto& [id, stream] : streams_) stream->detach();
  for (auto& stream : incoming_) stream->detach();
  if (conn_ != nullptr) ngtcp2_conn_del(conn_);
}

std::string ConnectionImpl::cidKey(const ngtcp2_cid& cid) const {
  return std::string(reinterpret_cast<const char*>(cid.data), cid.datalen);
}

ngtcp2_path ConnectionImpl::path(const udp::endpoint& remote) {
  ngtcp2_path path{};
  path.local.addr = &local_addr_.sa;
  path.local.addrlen = local_addrlen_;
  path.remote.addr =
      const_cast<ngtcp2_sockaddr*>(reinterpret_cast<const ngtcp2_sockaddr*>(remote.data()));
  path.remote.addrlen = static_cast<ngtcp2_socklen>(remote.size());
  return path;
}

Status ConnectionImpl::create(bool server, const udp::endpoint& remote, const ngtcp2_cid& dcid,
                              const ngtcp2_cid& scid, const ngtcp2_cid* original_dcid,
                              const ngtcp2_pkt_hd* retry, uint32_t version) {
  server_ = server;
  const udp::endpoint& local = endpoint_->local();
  std::memcpy(&local_addr_, local.data(), local.size());
  local_addrlen_ = static_cast<ngtcp2_socklen>(local.size());

  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = timestampNow();
  settings.handshake_timeout =
      static_cast<ngtcp2_duration>(limits_.handshake_timeout.count()) * NGTCP2_MILLISECONDS;
  // No window auto-tuning: the windows are the memory bound per stream and connection.
  settings.max_window = 0;
  settings.max_stream_window = 0;

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = limits_.stream_window;
  params.initial_max_stream_data_bidi_remote = limits_.stream_window;
  params.initial_max_stream_data_uni = limits_.peer_uni_streams > 0 ? limits_.stream_window : 0;
  params.initial_max_data = limits_.connection_window;
  params.initial_max_streams_bidi = limits_.max_streams_per_connection;
  params.initial_max_streams_uni = limits_.peer_uni_streams;
  params.max_idle_timeout =
      static_cast<ngtcp2_duration>(limits_.idle_timeout.count()) * NGTCP2_MILLISECONDS;
  if (server) {
    params.original_dcid = *original_dcid;
    if (retry != nullptr) {
      // The Initial that answered our Retry: its DCID is the Retry's SCID (RFC 9000 7.3).
      params.retry_scid = retry->dcid;
      params.retry_scid_present = 1;
      settings.token = retry->token;  // ngtcp2 copies it
    }
    params.stateless_reset_token_present = 1;
    const auto& secret = endpoint_->secret();
    if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, secret.data(),
                                                     secret.size(), &scid) != 0) {
      return Error{"generating a stateless reset token failed"};
    }
  }

  const ngtcp2_callbacks cb = callbacks(server);
  const ngtcp2_path p = path(remote);  // ngtcp2 copies the addresses

  const int rv = server ? ngtcp2_conn_server_new(&conn_, &dcid, &scid, &p, version, &cb, &settings,
                                                 &params, nullptr, this)
                        : ngtcp2_conn_client_new(&conn_, &dcid, &scid, &p, version, &cb, &settings,
                                                 &params, nullptr, this);
  if (rv != 0) return Error{"creating the QUIC connection: " + errorText(rv)};
  ngtcp2_conn_set_tls_native_handle(conn_, session_.get());
  if (limits_.keep_alive.count() > 0) {
    ngtcp2_conn_set_keep_alive_timeout(
        conn_, static_cast<ngtcp2_duration>(limits_.keep_alive.count()) * NGTCP2_MILLISECONDS);
  }
  return Ok{};
}

Status ConnectionImpl::startServer(const ngtcp2_pkt_hd& initial, const udp::endpoint& remote,
                                   std::shared_ptr<ServerTlsContext> tls,
                                   const ngtcp2_cid* original_dcid) {
  half_open_ = true;  // the endpoint counted it
  remote_address_ = formatAddress(remote.address(), remote.port());
  tls_.server = std::move(tls);
  Result<Session> session = makeServerSession(tls_);
  if (!session) return session.error();
  session_ = std::move(*session);

  ngtcp2_cid scid{};
  scid.datalen = kCidLength;
  randomBytes(scid.data, scid.datalen);
  // The client's Initial: its SCID is our DCID; its DCID is the original DCID we echo (after a
  // Retry, the token told the original one).
  const bool retried = original_dcid != nullptr;
  if (Status created =
          create(true, remote, initial.scid, scid, retried ? original_dcid : &initial.dcid,
                 retried ? &initial : nullptr, initial.version);
      !created) {
    return created;
  }

  for (const ngtcp2_cid& cid : {scid, initial.dcid}) {
    cid_keys_.push_back(cidKey(cid));
    endpoint_->registerCid(cid_keys_.back(), *this);
  }
  armTimer();
  return Ok{};
}

Status ConnectionImpl::startClient(const udp::endpoint& remote, const ClientTls& tls,
                                   const std::string& host, ConnectDone done,
                                   std::shared_ptr<EndpointImpl> owner) {
  remote_address_ = formatAddress(remote.address(), remote.port());
  Result<Session> session = makeClientSession(tls_, tls, host, client_credentials_);
  if (!session) return session.error();
  session_ = std::move(*session);

  ngtcp2_cid dcid{};
  dcid.datalen = 18;
  randomBytes(dcid.data, dcid.datalen);
  ngtcp2_cid scid{};
  scid.datalen = kCidLength;
  randomBytes(scid.data, scid.datalen);
  if (Status created = create(false, remote, dcid, scid, nullptr, nullptr, NGTCP2_PROTO_VER_V1);
      !created) {
    return created;
  }
  alpn_required_ = !tls.alpn.empty();

  connect_done_ = std::move(done);
  owner_ = std::move(owner);
  handshake_hold_ = shared_from_this();  // nobody else holds a connecting client
  writeAll();
  return Ok{};
}

// ---- Incoming -------------------------------------------------------------------------------

void ConnectionImpl::onDatagram(std::span<const uint8_t> datagram, const udp::endpoint& from) {
  auto keep = shared_from_this();
  switch (state_) {
    case State::Closing:
      // Repeat CONNECTION_CLOSE, at exponentially falling rate (1st, 2nd, 4th, ... packet).
      ++packets_while_closing_;
      if ((packets_while_closing_ & (packets_while_closing_ - 1)) == 0 && !close_packet_.empty() &&
          endpoint_ != nullptr) {
        endpoint_->send(close_packet_, from);
      }
      return;
    case State::Draining:
    case State::Finished:
      return;
    case State::Handshaking:
    case State::Established:
      break;
  }
  const ngtcp2_path p = path(from);
  ngtcp2_pkt_info info{};
  const int rv =
      ngtcp2_conn_read_pkt(conn_, &p, &info, datagram.data(), datagram.size(), timestampNow());
  if (rv != 0) {
    onReadError(rv);
    return;
  }
  process();
  writeAll();
}

void ConnectionImpl::onReadError(int rv) {
  switch (rv) {
    case NGTCP2_ERR_DRAINING:
      enterDraining(peerCloseReason());
      return;
    case NGTCP2_ERR_DROP_CONN:
    case NGTCP2_ERR_RETRY:
      finish("dropped: " + errorText(rv));
      return;
    case NGTCP2_ERR_CRYPTO: {
      const uint8_t alert = ngtcp2_conn_get_tls_alert(conn_);
      ngtcp2_connection_close_error error;
      ngtcp2_connection_close_error_default(&error);
      ngtcp2_connection_close_error_set_transport_error_tls_alert(&error, alert, nullptr, 0);
      closeWithError(error, tlsFailure("TLS handshake failed: " + alertName(alert)));
      return;
    }
    default: {
      ngtcp2_connection_close_error error;
      ngtcp2_connection_close_error_default(&error);
      ngtcp2_connection_close_error_set_transport_error_liberr(&error, rv, nullptr, 0);
      closeWithError(error, "protocol error: " + errorText(rv));
      return;
    }
  }
}

std::string ConnectionImpl::tlsFailure(const std::string& fallback) {
  return tls_.failure.empty() ? fallback : tls_.failure;
}

std::string ConnectionImpl::peerCloseReason() {
  ngtcp2_connection_close_error error;
  ngtcp2_conn_get_connection_close_error(conn_, &error);
  std::string reason = "closed by peer";
  const bool application = error.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION;
  reason += application ? " (application error " : " (transport error ";
  reason += std::to_string(error.error_code) + ")";
  if (!application && error.error_code >= NGTCP2_CRYPTO_ERROR &&
      error.error_code < NGTCP2_CRYPTO_ERROR + 256) {
    reason += " TLS alert " + alertName(static_cast<uint8_t>(error.error_code & 0xff));
  }
  if (error.reasonlen > 0 && error.reason != nullptr) {
    reason += ": " + std::string(reinterpret_cast<const char*>(error.reason),
                                 std::min<std::size_t>(error.reasonlen, 256));
  }
  return reason;
}

// ---- ngtcp2 callbacks ----------------------------------------------------------------------

int ConnectionImpl::onHandshakeCompleted() {
  handshake_completed_ = true;
  return 0;
}

int ConnectionImpl::onStreamOpen(int64_t stream_id) {
  if (!ngtcp2_is_bidi_stream(stream_id)) return 0;  // peer's uni streams: read and dropped
  auto stream = std::make_shared<StreamImpl>(*this, loop_, stream_id, /*remote=*/true, limits_);
  streams_.emplace(stream_id, stream);
  incoming_.push_back(std::move(stream));
  return 0;
}

int ConnectionImpl::onStreamData(uint32_t flags, int64_t stream_id, const uint8_t* data,
                                 std::size_t size) {
  StreamImpl* stream = streamOf(stream_id);
  if (stream == nullptr) {
    // A peer's unidirectional stream (or one we forgot): take the bytes, drop them.
    ngtcp2_conn_extend_max_stream_offset(conn_, stream_id, size);
    ngtcp2_conn_extend_max_offset(conn_, size);
    return 0;
  }
  stream->onData(data, size, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
  enqueue(*stream);
  return 0;
}

int ConnectionImpl::onAckedStreamData(int64_t stream_id, uint64_t size) {
  if (StreamImpl* stream = streamOf(stream_id)) stream->onAcked(size);
  return 0;
}

int ConnectionImpl::onStreamClose(int64_t stream_id) {
  if (StreamImpl* stream = streamOf(stream_id)) {
    stream->onClosed();
    enqueue(*stream);
  }
  return 0;
}

int ConnectionImpl::onStreamReset(int64_t stream_id) {
  if (StreamImpl* stream = streamOf(stream_id)) {
    stream->onPeerReset();
    enqueue(*stream);
    return 0;
  }
  // RESET_STREAM was the first frame of a peer's stream: ngtcp2 0.12 opened nothing (and keeps
  // nothing), but the peer did open a stream, and expects the application to know: announce it,
  // already ended (the same outcome as a reset after data). Nothing can be sent back on it.
  if (!ngtcp2_is_bidi_stream(stream_id) || !peerOpened(stream_id) ||
      untracked_streams_ >= limits_.max_streams_per_connection) {
    return 0;
  }
  auto stream = std::make_shared<StreamImpl>(*this, loop_, stream_id, /*remote=*/true, limits_);
  ++untracked_streams_;
  streams_.emplace(stream_id, stream);
  incoming_.push_back(stream);
  stream->resetBeforeOpen();
  return 0;
}

int ConnectionImpl::onStreamStopSending(int64_t stream_id) {
  if (StreamImpl* stream = streamOf(stream_id)) stream->onPeerStopSending();
  return 0;
}

int ConnectionImpl::onExtendMaxStreamData(int64_t stream_id) {
  if (StreamImpl* stream = streamOf(stream_id)) stream->onSendCredit();
  return 0;
}

int ConnectionImpl::onExtendMaxLocalStreams() {
  credit_signal_ = true;
  return 0;
}

int ConnectionImpl::onNewConnectionId(ngtcp2_cid* cid, uint8_t* token, std::size_t cid_size) {
  randomBytes(cid->data, cid_size);
  cid->datalen = cid_size;
  const auto& secret = endpoint_->secret();
  if (ngtcp2_crypto_generate_stateless_reset_token(token, secret.data(), secret.size(), cid) != 0) {
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  if (server_ && endpoint_ != nullptr) {
    cid_keys_.push_back(cidKey(*cid));
    endpoint_->registerCid(cid_keys_.back(), *this);
  }
  return 0;
}

int ConnectionImpl::onRemoveConnectionId(const ngtcp2_cid* cid) {
  if (!server_ || endpoint_ == nullptr) return 0;
  const std::string key = cidKey(*cid);
  endpoint_->unregisterCid(key);
  std::erase(cid_keys_, key);
  return 0;
}

StreamImpl* ConnectionImpl::streamOf(int64_t stream_id) {
  const auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

// ---- Application-side processing ------------------------------------------------------------

void ConnectionImpl::enqueue(StreamImpl& stream) {
  if (stream.queued) return;
  stream.queued = true;
  work_.push_back(stream.shared_from_this());
}

void ConnectionImpl::scheduleWork() {
  if (work_posted_ || state_ >= State::Closing) return;
  work_posted_ = true;
  boost::asio::post(loop_, [weak = weak_from_this()] {
    auto connection = weak.lock();
    if (!connection) return;
    connection->work_posted_ = false;
    if (connection->state_ >= State::Closing) return;
    connection->process();
    connection->writeAll();
  });
}

void ConnectionImpl::consumed(int64_t stream_id, std::size_t size) {
  if (conn_ == nullptr || state_ >= State::Closing) return;
  ngtcp2_conn_extend_max_stream_offset(conn_, stream_id, size);
  ngtcp2_conn_extend_max_offset(conn_, size);
  scheduleWork();  // the credit goes out in the next packet
}

void ConnectionImpl::discarded(std::size_t size) {
  if (conn_ == nullptr || state_ >= State::Closing) return;
  ngtcp2_conn_extend_max_offset(conn_, size);
}

void ConnectionImpl::process() {
  auto keep = shared_from_this();
  try {
    if (handshake_completed_ && state_ == State::Handshaking) established();
    if (state_ != State::Established) return;
    while (on_stream_ && !incoming_.empty() && state_ == State::Established) {
      auto stream = std::move(incoming_.front());
      incoming_.pop_front();
      on_stream_(stream);
    }
    while (!work_.empty() && state_ == State::Established) {
      std::vector<std::shared_ptr<StreamImpl>> work;
      work.swap(work_);
      for (auto& stream : work) {
        stream->queued = false;
        stream->deliver();
        if (stream->finished()) retire(stream);
      }
    }
    if (credit_signal_ && state_ == State::Established) {
      credit_signal_ = false;
      if (on_credit_) on_credit_();
    }
  } catch (const std::exception& e) {
    close(NGTCP2_INTERNAL_ERROR, std::string("internal error: ") + e.what());
  } catch (...) {
    close(NGTCP2_INTERNAL_ERROR, "internal error");
  }
}

void ConnectionImpl::retire(const std::shared_ptr<StreamImpl>& stream) {
  const auto it = streams_.find(stream->id());
  if (it == streams_.end() || it->second != stream) return;
  streams_.erase(it);
  if (stream->untracked()) {
    --untracked_streams_;  // ngtcp2 gave its credit back when it forgot the stream
  } else if (stream->remote() && conn_ != nullptr) {
    // A peer's stream slot is free again only now that the application is done with it too.
    ngtcp2_conn_extend_max_streams_bidi(conn_, 1);
  }
  stream->detach();
}

void ConnectionImpl::established() {
  alpn_ = selectedAlpn(session_.get());
  peer_subject_ = quic::peerCertificateSubject(session_.get());
  if (alpn_required_ && alpn_.empty()) {
    // GnuTLS aborts on a mismatch, but not when the server ignores ALPN altogether.
    ngtcp2_connection_close_error error;
    ngtcp2_connection_close_error_default(&error);
    ngtcp2_connection_close_error_set_transport_error_tls_alert(
        &error, GNUTLS_A_NO_APPLICATION_PROTOCOL, nullptr, 0);
    closeWithError(error, "the server selected none of the offered ALPN protocols");
    return;
  }
  state_ = State::Established;
  if (half_open_ && endpoint_ != nullptr) endpoint_->handshakeOver();
  half_open_ = false;
  if (server_) {
    if (endpoint_ != nullptr) endpoint_->announce(shared_from_this());
  } else if (connect_done_) {
    auto done = std::move(connect_done_);
    connect_done_ = nullptr;
    auto hold = std::move(handshake_hold_);  // the application owns it now
    done(std::shared_ptr<Connection>(shared_from_this()));
  }
}

// ---- Outgoing -------------------------------------------------------------------------------

void ConnectionImpl::writeAll() {
  if (conn_ == nullptr || state_ >= State::Closing || !blocked_packet_.empty()) return;
  auto keep = shared_from_this();

  if (state_ == State::Established) {
    for (auto& [id, stream] : streams_) stream->fill();
    if (state_ != State::Established) return;  // a producer closed the connection
  }

  const ngtcp2_tstamp ts = timestampNow();
  std::array<uint8_t, kMaxPacket> packet;
  const std::size_t max_size =
      std::min(packet.size(), ngtcp2_conn_get_max_tx_udp_payload_size(conn_));
  const std::size_t burst = std::min<std::size_t>(
      kMaxBurst, std::max<std::size_t>(1, ngtcp2_conn_get_send_quantum(conn_) / max_size));
  std::size_t sent = 0;
  std::vector<int64_t> skipped;  // streams that can add nothing more to this packet

  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info info{};

  for (;;) {
    // The next stream with bytes to send, round robin by ID.
    StreamImpl* stream = nullptr;
    if (state_ == State::Established) {
      const bool credit = ngtcp2_conn_get_max_data_left(conn_) > 0;
      auto candidate = [&](StreamImpl& s) {
        return s.wantsToSend(credit) &&
               std::find(skipped.begin(), skipped.end(), s.id()) == skipped.end();
      };
      for (auto it = streams_.upper_bound(last_sent_stream_); it != streams_.end(); ++it) {
        if (candidate(*it->second)) {
          stream = it->second.get();
          break;
        }
      }
      if (stream == nullptr) {
        for (auto it = streams_.begin(); it != streams_.end() && it->first <= last_sent_stream_;
             ++it) {
          if (candidate(*it->second)) {
            stream = it->second.get();
            break;
          }
        }
      }
    }
    std::array<ngtcp2_vec, 16> vectors;
    std::size_t count = 0;
    bool fin = false;
    int64_t stream_id = -1;
    if (stream != nullptr) {
      count = stream->unsent(vectors.data(), vectors.size(), fin);
      stream_id = stream->id();
      last_sent_stream_ = stream_id;
    }
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
    ngtcp2_ssize written_data = -1;
    const ngtcp2_ssize size =
        ngtcp2_conn_writev_stream(conn_, &ps.path, &info, packet.data(), max_size, &written_data,
                                  flags, stream_id, vectors.data(), count, ts);
    if (size < 0) {
      switch (size) {
        case NGTCP2_ERR_STREAM_DATA_BLOCKED:
          stream->onFlowBlocked();
          continue;
        case NGTCP2_ERR_STREAM_SHUT_WR:
        case NGTCP2_ERR_STREAM_NOT_FOUND:
          stream->onWriteShut();
          continue;
        case NGTCP2_ERR_WRITE_MORE:
          stream->onWritten(static_cast<std::size_t>(written_data), fin);
          skipped.push_back(stream_id);
          continue;
        default: {
          ngtcp2_connection_close_error error;
          ngtcp2_connection_close_error_default(&error);
          ngtcp2_connection_close_error_set_transport_error_liberr(&error, static_cast<int>(size),
                                                                   nullptr, 0);
          closeWithError(error, "writing packets: " + errorText(static_cast<int>(size)));
          return;
        }
      }
    }
    if (stream != nullptr && written_data >= 0) {
      stream->onWritten(static_cast<std::size_t>(written_data), fin);
    }
    if (size == 0) break;
    skipped.clear();
    if (!sendPacket(std::span<const uint8_t>(packet.data(), static_cast<std::size_t>(size)),
                    ps.path.remote)) {
      break;
    }
    if (++sent >= burst) break;
  }
  // Pacing waits for an RTT sample. Before one, ngtcp2 0.12 spaces packets by the initial RTT
  // (333 ms): after a client's first Initial it held the client's next flight ~27 ms, even after
  // the server's answer brought a real RTT (the delay was fixed when the Initial left), which made
  // every handshake take ~25 ms on loopback. Until then the amplification limit and the initial
  // congestion window (RFC 9002 7.2, 7.7) bound the handshake's bursts; the bytes sent meanwhile
  // are still paced by the first update after it (ngtcp2 keeps counting them).
  ngtcp2_conn_stat stat;
  ngtcp2_conn_get_conn_stat(conn_, &stat);
  if (stat.first_rtt_sample_ts != UINT64_MAX) ngtcp2_conn_update_pkt_tx_time(conn_, ts);
  armTimer();
}

bool ConnectionImpl::sendPacket(std::span<const uint8_t> packet, const ngtcp2_addr& to) {
  if (endpoint_ == nullptr) return false;
  const udp::endpoint destination = toEndpoint(to);
  if (endpoint_->send(packet, destination) == EndpointImpl::SendResult::Sent) return true;
  blocked_packet_.assign(packet.begin(), packet.end());
  blocked_to_ = destination;
  endpoint_->waitWritable(*this);
  return false;
}

void ConnectionImpl::onWritable() {
  if (blocked_packet_.empty() || endpoint_ == nullptr) return;
  if (endpoint_->send(blocked_packet_, blocked_to_) == EndpointImpl::SendResult::Blocked) {
    endpoint_->waitWritable(*this);
    return;
  }
  blocked_packet_.clear();
  writeAll();
}

// ---- Timer ----------------------------------------------------------------------------------

void ConnectionImpl::armTimer() {
  if (conn_ == nullptr || state_ >= State::Closing) return;
  const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(conn_);
  if (expiry == timer_deadline_) return;
  timer_deadline_ = expiry;
  if (expiry == UINT64_MAX) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(expiry)));
  timer_.async_wait([weak = weak_from_this(), expiry](const boost::system::error_code& ec) {
    auto connection = weak.lock();
    if (!connection || ec || connection->timer_deadline_ != expiry) return;
    connection->timer_deadline_ = UINT64_MAX;
    connection->onTimer();
  });
}

void ConnectionImpl::startCloseTimer() {
  const ngtcp2_duration pto = conn_ != nullptr ? ngtcp2_conn_get_pto(conn_) : NGTCP2_SECONDS;
  timer_deadline_ = UINT64_MAX;
  timer_.expires_after(std::chrono::nanoseconds(3 * pto));
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto connection = weak.lock();
    if (!connection || ec) return;
    connection->finish(connection->end_reason_);
  });
}

void ConnectionImpl::onTimer() {
  auto keep = shared_from_this();
  if (conn_ == nullptr || state_ >= State::Closing) return;
  const int rv = ngtcp2_conn_handle_expiry(conn_, timestampNow());
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    finish("idle timeout");
    return;
  }
  if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    finish("handshake timeout");
    return;
  }
  if (rv != 0) {
    ngtcp2_connection_close_error error;
    ngtcp2_connection_close_error_default(&error);
    ngtcp2_connection_close_error_set_transport_error_liberr(&error, rv, nullptr, 0);
    closeWithError(error, "timer: " + errorText(rv));
    return;
  }
  writeAll();
}

// ---- Closing --------------------------------------------------------------------------------

void ConnectionImpl::close(uint64_t app_error_code, std::string reason) {
  if (state_ >= State::Closing || conn_ == nullptr) return;
  ngtcp2_connection_close_error error;
  ngtcp2_connection_close_error_default(&error);
  ngtcp2_connection_close_error_set_application_error(
      &error, app_error_code, reinterpret_cast<const uint8_t*>(reason.data()),
      std::min<std::size_t>(reason.size(), 256));
  closeWithError(error, "closed locally: " + reason);
}

void ConnectionImpl::closeWithError(const ngtcp2_connection_close_error& error,
                                    std::string reason) {
  enterClosing(error, std::move(reason));
}

void ConnectionImpl::enterClosing(const ngtcp2_connection_close_error& error, std::string reason) {
  auto keep = shared_from_this();
  if (state_ >= State::Closing) return;
  if (ngtcp2_conn_is_in_draining_period(conn_)) {
    enterDraining(std::move(reason));
    return;
  }
  state_ = State::Closing;
  std::array<uint8_t, kMaxPacket> packet;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info info{};
  const ngtcp2_ssize size = ngtcp2_conn_write_connection_close(
      conn_, &ps.path, &info, packet.data(), packet.size(), &error, timestampNow());
  if (size > 0) {
    close_packet_.assign(packet.begin(), packet.begin() + size);
    if (endpoint_ != nullptr) endpoint_->send(close_packet_, toEndpoint(ps.path.remote));
  }
  ended(reason);
  if (size <= 0) {
    finish(reason);  // nothing to repeat (e.g. before any keys): no closing period needed
    return;
  }
  end_reason_ = std::move(reason);
  startCloseTimer();
}

void ConnectionImpl::enterDraining(std::string reason) {
  auto keep = shared_from_this();
  if (state_ >= State::Draining) return;
  state_ = State::Draining;
  ended(reason);
  end_reason_ = std::move(reason);
  startCloseTimer();
}

void ConnectionImpl::shutdown(const std::string& reason) {
  auto keep = shared_from_this();
  if (state_ < State::Closing && conn_ != nullptr) {
    ngtcp2_connection_close_error error;
    ngtcp2_connection_close_error_default(&error);
    // NO_ERROR as a transport close: valid before the handshake finishes too.
    ngtcp2_connection_close_error_set_transport_error(
        &error, NGTCP2_NO_ERROR, reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
    enterClosing(error, reason);
  }
  finish(reason);
}

void ConnectionImpl::ended(std::string reason) {
  if (ended_) return;
  ended_ = true;
  end_reason_ = reason;
  auto streams = std::move(streams_);
  streams_.clear();
  auto incoming = std::move(incoming_);
  incoming_.clear();
  work_.clear();
  for (auto& [id, stream] : streams) stream->detach();
  for (auto& stream : incoming) stream->detach();
  try {
    if (connect_done_) {
      auto done = std::move(connect_done_);
      connect_done_ = nullptr;
      done(Error{"QUIC connection to " + remote_address_ + " failed: " + reason});
    } else if (on_closed_) {
      auto handler = std::move(on_closed_);
      on_closed_ = nullptr;
      handler(reason);
    }
  } catch (...) {
    // A throwing handler must not stop the teardown.
  }
  // Handlers may capture the connection itself; drop them so nothing keeps it alive. A client
  // that failed to connect has nobody else holding it: it goes now (callers hold a reference
  // until they return), without waiting out the closing period.
  on_stream_ = nullptr;
  on_credit_ = nullptr;
  handshake_hold_.reset();
}

void ConnectionImpl::finish(std::string reason) {
  auto keep = shared_from_this();
  if (state_ == State::Finished) return;
  ended(reason);
  state_ = State::Finished;
  timer_.cancel();
  if (endpoint_ != nullptr) {
    if (half_open_) endpoint_->handshakeOver();
    half_open_ = false;
    for (const std::string& key : cid_keys_) endpoint_->unregisterCid(key);
    cid_keys_.clear();
    EndpointImpl* endpoint = endpoint_;
    endpoint_ = nullptr;
    endpoint->removeConnection(*this);
  }
  if (conn_ != nullptr) {
    ngtcp2_conn_del(conn_);
    conn_ = nullptr;
  }
  session_.reset();
  client_credentials_.reset();
  auto hold = std::move(handshake_hold_);
  owner_.reset();  // may destroy the client endpoint
}

// ---- Application API ------------------------------------------------------------------------

void ConnectionImpl::onStream(std::function<void(std::shared_ptr<Stream>)> handler) {
  on_stream_ = std::move(handler);
  if (!incoming_.empty()) scheduleWork();
}

Result<std::shared_ptr<Stream>> ConnectionImpl::openStream() {
  if (state_ != State::Established || conn_ == nullptr) {
    return Error{"QUIC connection to " + remote_address_ + " is closed"};
  }
  int64_t stream_id = -1;
  const int rv = ngtcp2_conn_open_bidi_stream(conn_, &stream_id, nullptr);
  if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) {
    return Error{"QUIC connection to " + remote_address_ +
                 ": the peer's stream limit is reached; wait for onStreamCredit"};
  }
  if (rv != 0) return Error{"opening a QUIC stream: " + errorText(rv)};
  auto stream = std::make_shared<StreamImpl>(*this, loop_, stream_id, /*remote=*/false, limits_);
  streams_.emplace(stream_id, stream);
  return std::shared_ptr<Stream>(stream);
}

void ConnectionImpl::onStreamCredit(std::function<void()> handler) {
  on_credit_ = std::move(handler);
}

void ConnectionImpl::onClosed(std::function<void(std::string reason)> handler) {
  if (ended_) {
    if (handler) handler(end_reason_);
    return;
  }
  on_closed_ = std::move(handler);
}

}  // namespace selium::net::quic
