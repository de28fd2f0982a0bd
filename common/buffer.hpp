// A bounded byte buffer: the bytes a connection has read and not yet sent.
//
// recv writes straight into space(), the echo transform runs in place, send
// reads from data(). Its capacity is fixed, so a peer that sends without
// reading cannot make the server buffer without limit: when the buffer is
// full the server stops reading that peer until it drains (backpressure).
// Memory is taken on first use, so idle connections cost nothing here.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace iom {

class ByteBuffer {
public:
    explicit ByteBuffer(std::size_t capacity) : capacity_(capacity) {}

    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t size() const noexcept { return tail_ - head_; }
    bool empty() const noexcept { return head_ == tail_; }
    bool full() const noexcept { return size() == capacity_; }

    // The pending bytes, oldest first.
    std::span<char> data() noexcept { return {bytes_.get() + head_, size()}; }

    // Free room after the pending bytes, for recv to fill; moves the pending
    // bytes to the front first if that makes more room.
    std::span<char> space() {
        if (!bytes_) bytes_ = std::make_unique_for_overwrite<char[]>(capacity_);
        if (tail_ == capacity_ && head_ > 0) {
            std::memmove(bytes_.get(), bytes_.get() + head_, size());
            tail_ -= head_;
            head_ = 0;
        }
        return {bytes_.get() + tail_, capacity_ - tail_};
    }

    // `n` bytes were written into space(); returns them.
    std::span<char> commit(std::size_t n) noexcept {
        std::span<char> added{bytes_.get() + tail_, n};
        tail_ += n;
        return added;
    }

    // `n` bytes of data() were sent.
    void consume(std::size_t n) noexcept {
        head_ += n;
        if (head_ == tail_) head_ = tail_ = 0;  // empty: start again at the front
    }

    // Copy in as much of `in` as fits; returns how much did.
    std::size_t append(std::span<const char> in) {
        auto room = space();
        std::size_t n = in.size() < room.size() ? in.size() : room.size();
        if (n > 0) std::memcpy(room.data(), in.data(), n);
        commit(n);
        return n;
    }

private:
    std::size_t capacity_;
    std::unique_ptr<char[]> bytes_;
    std::size_t head_ = 0;
    std::size_t tail_ = 0;
};

}  // namespace iom
