/* semihost.c - Arm semihosting (SYS_WRITE0, SYS_EXIT_EXTENDED) by the `bkpt 0xAB` call. */
#include "semihost.h"

#include <string.h>

static uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_write(const char *text) { semihost_call(0x04, text); }

void semihost_exit(int status)
{
    /* ADP_Stopped_ApplicationExit with the status: qemu exits with it */
    const uint32_t block[2] = {0x20026u, (uint32_t)status};
    semihost_call(0x20, block);
    for (;;) {}
}

void print_u32(uint32_t v)
{
    char buf[11], *p = buf + sizeof buf - 1;
    *p = '\0';
    do *--p = (char)('0' + v % 10); while ((v /= 10) != 0);
    semihost_write(p);
}

void print_f32_bits(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    char buf[9];
    for (int i = 0; i < 8; i++) buf[i] = "0123456789abcdef"[(bits >> (28 - 4 * i)) & 0xF];
    buf[8] = '\0';
    semihost_write(buf);
}
