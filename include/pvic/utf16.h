/* UTF-8 <-> UTF-16LE for the VMBus wire (spec/hyperv-ic.md §4.4, §8.9). Strings from the
 * host are data: anything that is not well-formed is refused with -EILSEQ rather than
 * replaced, and output is always bounded by the caller's buffer. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Worst case UTF-8 bytes for n UTF-16 units (a BMP unit needs up to 3 bytes; a surrogate
 * pair, two units, needs 4), plus the NUL. */
#define UTF16_UTF8_MAX(units) ((size_t)(units) * 3 + 1)

/* Converts at most n_units UTF-16LE units read from in (any alignment), stopping early at
 * a NUL unit, into a NUL-terminated UTF-8 string in out[outsize].
 * Returns the UTF-8 length without the NUL; -EILSEQ for a lone or reversed surrogate;
 * -ENOBUFS when out cannot hold the result and its NUL (out is then "" if outsize > 0). */
ssize_t utf16_to_utf8(char *out, size_t outsize, const uint8_t *in, size_t n_units);

/* Converts UTF-8 from in (at most len bytes, stopping early at a NUL byte) into UTF-16LE
 * units in out, which holds out_units units, and appends a NUL unit.
 * Returns the number of units written without the NUL; -EILSEQ for malformed UTF-8
 * (stray continuation bytes, overlong forms, encoded surrogates, code points above
 * U+10FFFF, a sequence cut short); -ENOBUFS when the units plus NUL do not fit (out is
 * then an empty string if out_units > 0). */
ssize_t utf8_to_utf16(uint8_t *out, size_t out_units, const char *in, size_t len);

/* Like utf8_to_utf16(), but when the result does not fit it converts the longest prefix
 * of whole code points that does (never half a surrogate pair) and sets *ret_truncated.
 * The whole input is still validated: -EILSEQ wins over truncation. -ENOBUFS only when
 * out_units == 0. */
ssize_t utf8_to_utf16_prefix(uint8_t *out, size_t out_units, const char *in, size_t len,
                             bool *ret_truncated);

/* The byte length of the longest prefix of the NUL-terminated s made of whole code points
 * that has at most max_bytes bytes and converts to at most max_units UTF-16 units: how
 * much of a string fits a field of the kernel relay. -EILSEQ if s is malformed. */
ssize_t utf8_fit(const char *s, size_t max_bytes, size_t max_units);

/* Checks that s[0..len) is well-formed UTF-8 (NUL bytes allowed). 0 or -EILSEQ. */
int utf8_validate(const char *s, size_t len);
