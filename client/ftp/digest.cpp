#include "client/ftp/digest.hpp"

#include "common/error.hpp"
#include "common/fd.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <xxhash.h>

#include <stdexcept>
#include <vector>

namespace iom::client::ftp {

namespace {

std::string to_hex(const unsigned char* bytes, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 15];
    }
    return out;
}

}  // namespace

void Sha256::Free::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("OpenSSL: cannot start a SHA-256");
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::string_view bytes) { EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size()); }

std::string Sha256::hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &len);
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
    return to_hex(digest, len);
}

void Xxh128::Free::operator()(XXH3_state_s* state) const { XXH3_freeState(state); }

Xxh128::Xxh128() : state_(XXH3_createState()) {
    if (!state_ || XXH3_128bits_reset(state_.get()) != XXH_OK) throw std::runtime_error("xxhash: cannot start");
}
Xxh128::~Xxh128() = default;
Xxh128::Xxh128(Xxh128&&) noexcept = default;
Xxh128& Xxh128::operator=(Xxh128&&) noexcept = default;

void Xxh128::update(std::string_view bytes) { XXH3_128bits_update(state_.get(), bytes.data(), bytes.size()); }

std::string Xxh128::hex() {
    XXH128_canonical_t c;  // big-endian bytes: the hex xxhsum prints
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(state_.get()));
    XXH3_128bits_reset(state_.get());
    return to_hex(c.digest, sizeof c.digest);
}

Digests digests_of_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_sys("open {}", path);
    BothDigests d;
    std::vector<char> buf(256 * 1024);
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_sys("read {}", path);
        if (n == 0) return d.done();
        d.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
}

}  // namespace iom::client::ftp
