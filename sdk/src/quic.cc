// QUIC listeners, connections and streams over the quic_* hostcalls, and TLS client
// configurations (tls_client_config).
#include "selium/quic.hpp"

#include <flatbuffers/flatbuffers.h>

#include "net_generated.h"

namespace selium {

namespace fb = ::selium::abi;

namespace {

std::string text(const flatbuffers::String* s) {
  return s == nullptr ? std::string() : std::string(s->data(), s->size());
}

flatbuffers::Offset<fb::QuicLimits> limitsOf(flatbuffers::FlatBufferBuilder& b,
                                             const QuicLimits& l) {
  return fb::CreateQuicLimits(b, l.max_connections, l.max_streams, l.idle_timeout_ms);
}

// A stream from the two handles a quic_stream_* call wrote (reader, writer; little-endian).
QuicStream streamOf(const uint8_t (&out)[8]) noexcept {
  auto at = [&out](int i) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<uint32_t>(out[i + k]) << (8 * k);
    return static_cast<selium_handle_t>(v);
  };
  return QuicStream{Reader(Handle(at(0))), StreamWriter(Writer(Handle(at(4))))};
}

}  // namespace

Result<TlsClientConfig> TlsClientConfig::create(const TlsClientOptions& options) noexcept {
  flatbuffers::FlatBufferBuilder b(options.ca_pem.size() + options.cert_pem.size() +
                                   options.key_pem.size() + 256);
  auto ca = b.CreateString(options.ca_pem.data(), options.ca_pem.size());
  auto cert = b.CreateString(options.cert_pem.data(), options.cert_pem.size());
  auto key = b.CreateString(options.key_pem.data(), options.key_pem.size());
  std::vector<flatbuffers::Offset<flatbuffers::String>> alpn;
  for (const std::string& p : options.alpn) alpn.push_back(b.CreateString(p));
  auto alpn_vec = b.CreateVector(alpn);
  auto name = b.CreateString(options.server_name.data(), options.server_name.size());
  b.Finish(fb::CreateTlsClientConfig(b, ca, cert, key, alpn_vec, name));
  int32_t handle = selium_tls_client_config(SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (handle < 0) return Error::fromResult(handle);
  return TlsClientConfig(Handle(handle));
}

Result<QuicListener> QuicListener::listen(const QuicListenOptions& options) noexcept {
  flatbuffers::FlatBufferBuilder b(256);
  auto domain = b.CreateString(options.domain.data(), options.domain.size());
  auto address = b.CreateString(options.address.data(), options.address.size());
  auto limits = limitsOf(b, options.limits);
  const int32_t tls =
      options.tls_config != nullptr ? options.tls_config->handle().get() : SELIUM_TLS_DEFAULT;
  b.Finish(fb::CreateQuicListen(b, domain, address, options.port, tls, limits));
  int32_t handle = selium_quic_listen(SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (handle < 0) return Error::fromResult(handle);
  return QuicListener(Handle(handle));
}

Result<QuicListener> QuicListener::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::QuicListener);
  if (!handle) return handle.error();
  return QuicListener(std::move(*handle));
}

uint16_t QuicListener::port() const noexcept {
  int32_t port = selium_quic_listener_port(handle_.get());
  return port < 0 ? 0 : static_cast<uint16_t>(port);
}

Task<Result<QuicConnection>> QuicListener::accept() {
  selium_handle_t listener = handle_.get();
  auto poll = [listener](int32_t waker) noexcept { return selium_quic_accept(listener, waker); };
  int32_t result;
  while ((result = co_await detail::PollHandle(listener, poll)) == -SELIUM_ERR_WouldBlock) {
  }
  if (result < 0) co_return Error::fromResult(result);
  co_return QuicConnection(Handle(result));
}

Result<QuicConnection> QuicConnection::connect(const QuicConnectOptions& options) noexcept {
  flatbuffers::FlatBufferBuilder b(256);
  auto host = b.CreateString(options.host.data(), options.host.size());
  auto limits = limitsOf(b, options.limits);
  const int32_t tls =
      options.tls_config != nullptr ? options.tls_config->handle().get() : SELIUM_TLS_DEFAULT;
  b.Finish(fb::CreateQuicConnect(b, host, options.port, tls, limits));
  int32_t handle = selium_quic_connect(SELIUM_ADDR(b.GetBufferPointer()), b.GetSize());
  if (handle < 0) return Error::fromResult(handle);
  return QuicConnection(Handle(handle));
}

Result<QuicConnection> QuicConnection::attach(SharedId id) noexcept {
  auto handle = Handle::attach(id, Kind::QuicConnection);
  if (!handle) return handle.error();
  return QuicConnection(std::move(*handle));
}

Task<Result<QuicStream>> QuicConnection::acceptStream() {
  selium_handle_t connection = handle_.get();
  uint8_t out[8] = {};
  auto poll = [connection, &out](int32_t waker) noexcept {
    return selium_quic_stream_accept(connection, SELIUM_ADDR(out), sizeof(out), waker);
  };
  int32_t result;
  while ((result = co_await detail::PollHandle(connection, poll)) == -SELIUM_ERR_WouldBlock) {
  }
  if (result < 0) co_return Error::fromResult(result);
  co_return streamOf(out);
}

Task<Result<QuicStream>> QuicConnection::openStream() {
  selium_handle_t connection = handle_.get();
  uint8_t out[8] = {};
  auto poll = [connection, &out](int32_t waker) noexcept {
    return selium_quic_stream_open(connection, SELIUM_ADDR(out), sizeof(out), waker);
  };
  int32_t result;
  while ((result = co_await detail::PollHandle(connection, poll)) == -SELIUM_ERR_WouldBlock) {
  }
  if (result < 0) co_return Error::fromResult(result);
  co_return streamOf(out);
}

Result<QuicConnectionInfo> QuicConnection::info() const noexcept {
  std::vector<uint8_t> buffer(256);
  for (;;) {
    int32_t n = selium_quic_connection_info(handle_.get(), SELIUM_ADDR(buffer.data()),
                                            static_cast<uint32_t>(buffer.size()));
    if (n < 0) return Error::fromResult(n);
    if (static_cast<std::size_t>(n) <= buffer.size()) {
      buffer.resize(static_cast<std::size_t>(n));
      break;
    }
    buffer.resize(static_cast<std::size_t>(n));
  }
  flatbuffers::Verifier verifier(buffer.data(), buffer.size());
  if (!verifier.VerifyBuffer<fb::QuicConnectionInfo>(nullptr)) return Error(ErrorCode::Internal);
  const auto* root = flatbuffers::GetRoot<fb::QuicConnectionInfo>(buffer.data());
  return QuicConnectionInfo{text(root->remote_address()), text(root->server_name()),
                            text(root->alpn()), text(root->peer_subject())};
}

}  // namespace selium
