/* semihost.h - the firmware's only output: Arm semihosting calls, which qemu-system-arm
 * (-semihosting) turns into writes to its stdout and its exit status. No stdio linked. */
#ifndef SEMIHOST_H
#define SEMIHOST_H

#include <stdint.h>

void semihost_write(const char *text);
__attribute__((noreturn)) void semihost_exit(int status);

/* Print helpers on top of semihost_write: an unsigned decimal, a float's exact bits in hex
 * (the test decodes them, so no float formatting is needed here). */
void print_u32(uint32_t v);
void print_f32_bits(float v);

#endif
