/*
 * support_sanitizer.h - which sanitizer the test program (and the
 * daemon of the same build) runs under: VT_ASAN or VT_TSAN, and
 * VT_SANITIZED for either. Tests that load a server hard scale their
 * work or their bounds by it (TSan runs the code 5-15x slower).
 */
#ifndef VT_TEST_SUPPORT_SANITIZER_H
#define VT_TEST_SUPPORT_SANITIZER_H

#if defined(__SANITIZE_THREAD__)
#define VT_TSAN 1
#elif defined(__SANITIZE_ADDRESS__)
#define VT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VT_TSAN 1
#elif __has_feature(address_sanitizer)
#define VT_ASAN 1
#endif
#endif

#if defined(VT_ASAN) || defined(VT_TSAN)
#define VT_SANITIZED 1
#endif

#endif
