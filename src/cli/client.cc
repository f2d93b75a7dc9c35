#include "cli/client.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

namespace selium::cli {

namespace {

control::Outcome<std::string> readPem(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return control::Outcome<std::string>::failure(path.string() + " does not exist");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) {
    return control::Outcome<std::string>::failure("cannot read " + path.string());
  }
  if (text.str().size() > (1u << 20)) {
    return control::Outcome<std::string>::failure(path.string() + " is larger than 1 MiB");
  }
  return text.str();
}

}  // namespace

// ---- Call ------------------------------------------------------------------------------------

std::size_t Call::offer(std::span<const uint8_t> bytes) {
  // Bounded: at most a few frames are held; a reader that does not keep up holds the server.
  std::size_t held = 0;
  for (const auto& f : received_) held += f.size();
  if (held > control::kMaxResponseBytes) return 0;
  frames_.push(bytes);
  while (auto f = frames_.next()) received_.push_back(std::move(*f));
  if (frames_.failed()) framing_error_ = frames_.error();
  return bytes.size();
}

void Call::end(bool complete) {
  ended_ = true;
  complete_ = complete;
  if (complete && frames_.pending() > 0 && framing_error_.empty()) {
    framing_error_ = "the server's stream ended inside a frame";
  }
}

net::ByteProducer::Chunk Call::read(std::span<uint8_t> out) {
  const std::size_t queued = out_.size() - out_pos_;
  if (queued == 0) {
    out_.clear();
    out_pos_ = 0;
    return {finish_ ? State::End : State::Wait, 0};
  }
  const std::size_t n = std::min(queued, out.size());
  std::memcpy(out.data(), out_.data() + out_pos_, n);
  out_pos_ += n;
  return {State::Data, n};
}

void Call::sendFrame(std::span<const uint8_t> payload) {
  control::appendFrame(out_, payload);
  if (auto s = stream.lock()) s->resumeSend();
}

void Call::sendRaw(std::span<const uint8_t> bytes) {
  out_.insert(out_.end(), bytes.begin(), bytes.end());
  if (auto s = stream.lock()) s->resumeSend();
}

void Call::finish() {
  finish_ = true;
  if (auto s = stream.lock()) s->resumeSend();
}

std::optional<std::vector<uint8_t>> Call::takeFrame() {
  if (received_.empty()) return std::nullopt;
  std::vector<uint8_t> f = std::move(received_.front());
  received_.pop_front();
  if (auto s = stream.lock()) s->resumeReceive();
  return f;
}

// ---- Client ----------------------------------------------------------------------------------

control::Outcome<std::unique_ptr<Client>> Client::connect(const ConnectOptions& options) {
  using Out = control::Outcome<std::unique_ptr<Client>>;
  net::quic::ClientTls tls;
  auto ca = readPem(options.cert_dir / "ca.crt");
  if (!ca) {
    return Out::failure("cannot read the CA certificate: " + ca.error() +
                        " (give the server work dir's certs/ with --cert-dir or SELIUM_CERT_DIR; "
                        "`selium-runtime generate-certs` writes them)");
  }
  tls.ca_pem = std::move(*ca);
  const auto cert_path = options.cert_dir / "client.crt";
  const auto key_path = options.cert_dir / "client.key";
  std::error_code ec;
  const bool has_cert = std::filesystem::exists(cert_path, ec);
  const bool has_key = std::filesystem::exists(key_path, ec);
  if (has_cert != has_key) {
    return Out::failure((has_cert ? key_path : cert_path).string() + " is missing but " +
                        (has_cert ? cert_path : key_path).string() +
                        " exists: the client certificate needs both");
  }
  if (has_cert) {
    auto cert = readPem(cert_path);
    if (!cert) return Out::failure(cert.error());
    auto key = readPem(key_path);
    if (!key) return Out::failure(key.error());
    tls.cert_pem = std::move(*cert);
    tls.key_pem = std::move(*key);
  }
  std::unique_ptr<Client> client(new Client());
  client->host_ = options.host;
  client->port_ = options.port;
  net::quic::Limits limits;
  limits.handshake_timeout = options.timeout;
  limits.idle_timeout = std::chrono::milliseconds(30000);
  limits.keep_alive = std::chrono::milliseconds(3000);  // the server closes after 10 s idle
  limits.max_streams_per_connection = 0;                // the server opens none
  std::optional<control::Outcome<std::shared_ptr<net::quic::Connection>>> result;
  net::quic::Endpoint::connect(
      client->loop_, options.host, options.port, std::move(tls), limits,
      [&result](Result<std::shared_ptr<net::quic::Connection>> r) {
        if (r) {
          result.emplace(std::move(*r));
        } else {
          result.emplace(
              control::Outcome<std::shared_ptr<net::quic::Connection>>::failure(r.error().message));
        }
      });
  client->runUntil([&] { return result.has_value(); }, options.timeout + std::chrono::seconds(5));
  if (!result) {
    return Out::failure("cannot connect to " + client->peer() + ": no answer within " +
                        std::to_string(options.timeout.count() / 1000) + " s");
  }
  if (!*result) {
    std::string hint =
        "check --server, that the Remote Client module listens there, and that its certificate "
        "is signed by " +
        (options.cert_dir / "ca.crt").string();
    if (!has_cert) {
      hint += "; the server requires a client certificate and " + cert_path.string() +
              " does not exist";
    } else {
      hint += "; the server accepts only client certificates its work dir's ca.crt signed";
    }
    return Out::failure("cannot connect to " + client->peer() + ": " + result->error() + " (" +
                        hint + ")");
  }
  client->connection_ = std::move(result->value());
  Client* raw = client.get();
  client->timeout_ = options.timeout;
  client->connection_->onStreamCredit([raw] { ++raw->stream_credits_; });
  client->connection_->onClosed([raw](std::string reason) {
    raw->closed_ = true;
    raw->closed_reason_ = std::move(reason);
  });
  return client;
}

Client::~Client() { close(); }

void Client::close() {
  keep_alive_.reset();
  if (connection_ && !connection_->isClosed()) {
    // The CONNECTION_CLOSE is sent within close() (net/quic sends it synchronously); poll() runs
    // what is ready on the loop without waiting. (This used to run the loop for 50 ms, a third of
    // every `selium` run's wall time.) Should the socket have refused the datagram, the server
    // drops the connection at its idle timeout instead.
    connection_->close(0, "done");
    loop_.poll();
    if (loop_.stopped()) loop_.restart();
  }
}

bool Client::runUntil(const std::function<bool()>& done,
                      std::optional<std::chrono::milliseconds> timeout) {
  const auto deadline = timeout ? std::chrono::steady_clock::now() + *timeout
                                : std::chrono::steady_clock::time_point::max();
  while (!done()) {
    if (stopped_) {
      why_ = "interrupted";
      return false;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      why_ = "no answer from " + peer() + " within " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(*timeout).count()) +
             " s";
      return false;
    }
    // Wake at least every 100 ms to check `stopped_` and the deadline.
    const auto slice = std::min<std::chrono::steady_clock::duration>(
        deadline - now, std::chrono::milliseconds(100));
    loop_.run_one_for(slice);
    if (loop_.stopped()) loop_.restart();
  }
  return true;
}

control::Outcome<std::shared_ptr<Call>> Client::open(const control::Request& request,
                                                     bool keep_open) {
  control::Request numbered = request;
  numbered.request_id = next_id_++;
  return openRaw(control::frame(control::encodeRequest(numbered)), keep_open);
}

control::Outcome<std::shared_ptr<Call>> Client::openRaw(std::span<const uint8_t> bytes,
                                                        bool keep_open) {
  using Out = control::Outcome<std::shared_ptr<Call>>;
  if (closed_) return Out::failure("the connection to " + peer() + " closed: " + closed_reason_);
  auto stream = connection_->openStream();
  while (!stream && !closed_) {
    const uint64_t seen = stream_credits_;
    if (!runUntil([&] { return stream_credits_ != seen || closed_; }, timeout_)) break;
    stream = connection_->openStream();
  }
  if (!stream) {
    return Out::failure("cannot open a stream to " + peer() + ": " + stream.error().message);
  }
  auto call = std::make_shared<Call>();
  call->stream = *stream;
  call->sendRaw(bytes);
  if (!keep_open) call->finish();
  (*stream)->setConsumer(call);
  (*stream)->setProducer(call);
  return call;
}

std::optional<std::vector<uint8_t>> Client::nextFrame(
    Call& call, std::optional<std::chrono::milliseconds> timeout) {
  std::optional<std::vector<uint8_t>> frame;
  const bool got = runUntil(
      [&] {
        frame = call.takeFrame();
        return frame.has_value() || call.ended() || !call.framingError().empty() || closed_;
      },
      timeout);
  if (frame) return frame;
  if (!got) return std::nullopt;
  if (!call.framingError().empty()) {
    why_ = "bad data from " + peer() + ": " + call.framingError();
  } else if (call.ended()) {
    why_ = call.endedCleanly()
               ? "the server ended the stream"
               : "the server reset the stream" + (closed_ ? ": " + closed_reason_ : std::string());
  } else {
    why_ = "the connection to " + peer() + " closed: " + closed_reason_;
  }
  return std::nullopt;
}

control::Outcome<control::Response> Client::response(Call& call,
                                                     std::chrono::milliseconds timeout) {
  using Out = control::Outcome<control::Response>;
  auto frame = nextFrame(call, timeout);
  if (!frame) return Out::failure(why_);
  auto decoded = control::decodeResponse(*frame);
  if (!decoded) return Out::failure("bad response from " + peer() + ": " + decoded.error());
  return decoded;
}

void Client::waitEnd(Call& call, std::optional<std::chrono::milliseconds> timeout) {
  runUntil([&] { return call.ended() || closed_; }, timeout);
}

void Client::flush(Call& call, std::chrono::milliseconds timeout) {
  runUntil([&] { return call.queuedBytes() == 0 || call.ended() || closed_; }, timeout);
}

void Client::keepAlive(const std::shared_ptr<Call>& call, std::chrono::milliseconds period) {
  keep_alive_ = std::make_unique<boost::asio::steady_timer>(loop_);
  std::weak_ptr<Call> weak = call;
  auto timer = keep_alive_.get();
  auto tick = std::make_shared<std::function<void()>>();
  *tick = [timer, weak, period, tick_weak = std::weak_ptr<std::function<void()>>(tick)] {
    timer->expires_after(period);
    timer->async_wait([weak, tick_weak](const boost::system::error_code& ec) {
      if (ec) return;
      auto call = weak.lock();
      if (!call || call->ended()) return;
      call->sendFrame({});
      if (auto next = tick_weak.lock()) (*next)();
    });
  };
  keep_alive_tick_ = tick;
  (*tick)();
}

}  // namespace selium::cli
