// A vector that keeps up to N elements inline and moves to the heap beyond
// that: the part lists of charges, holds and entries, which almost always
// name one or two lots. Contiguous (converts to std::span). T must be
// trivially copyable. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <span>
#include <type_traits>
#include <vector>

namespace creditd {

template <typename T, std::size_t N>
class small_vector {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<T*>;
  using const_reverse_iterator = std::reverse_iterator<const T*>;

  small_vector() = default;
  small_vector(std::initializer_list<T> items) { assign(items.begin(), items.end()); }
  small_vector(const std::vector<T>& items) {
    assign(items.data(), items.data() + items.size());
  }  // NOLINT
  small_vector(const small_vector& o) { assign(o.begin(), o.end()); }
  small_vector(small_vector&& o) noexcept { *this = std::move(o); }
  small_vector& operator=(const small_vector& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  small_vector& operator=(small_vector&& o) noexcept {
    if (this == &o) return *this;
    if (o.heap_.empty()) {
      heap_.clear();
      std::copy(o.inline_, o.inline_ + o.size_, inline_);
    } else {
      heap_ = std::move(o.heap_);
    }
    size_ = o.size_;
    o.heap_.clear();
    o.size_ = 0;
    return *this;
  }

  T* data() { return heap_.empty() ? inline_ : heap_.data(); }
  const T* data() const { return heap_.empty() ? inline_ : heap_.data(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  reverse_iterator rbegin() { return reverse_iterator(end()); }
  reverse_iterator rend() { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

  void push_back(const T& v) {
    if (heap_.empty() && size_ < N) {
      inline_[size_++] = v;
      return;
    }
    if (heap_.empty()) {
      heap_.reserve(N * 2);
      heap_.assign(inline_, inline_ + size_);
    }
    heap_.push_back(v);
    ++size_;
  }
  void reserve(std::size_t n) {
    if (n > N && heap_.empty()) {
      heap_.reserve(n);
      heap_.assign(inline_, inline_ + size_);
    } else if (!heap_.empty()) {
      heap_.reserve(n);
    }
  }
  void clear() {
    heap_.clear();
    size_ = 0;
  }

  friend bool operator==(const small_vector& a, const small_vector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const small_vector& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  void assign(const T* first, const T* last) {
    const auto n = static_cast<std::size_t>(last - first);
    if (n <= N) {
      heap_.clear();
      std::copy(first, last, inline_);
    } else {
      heap_.assign(first, last);
    }
    size_ = n;
  }

  T inline_[N]{};
  std::vector<T> heap_;  // holds every element once more than N were ever pushed
  std::size_t size_ = 0;
};

}  // namespace creditd
