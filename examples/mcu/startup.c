/* startup.c - reset and fault handlers for a Cortex-M4 / M55 under qemu: set up RAM and the FPU
 * (on the M55 that enables Helium too),
 * run main, and end the simulation with main's status (semihost.h). A fault ends it with
 * status 99, so a crash fails a test instead of hanging it. */
#include <stdint.h>

#include "semihost.h"

int main(void);

extern uint32_t data_start[], data_end[], data_load[], bss_start[], bss_end[];
extern uint32_t stack_bottom[], stack_top[];

/* Stack bytes never written since reset (the stack was painted with a pattern first). */
uint32_t stack_untouched_bytes(void)
{
    const uint32_t *p = stack_bottom;
    while (p < stack_top && *p == 0xDEADBEEFu) p++;
    return (uint32_t)((p - stack_bottom) * 4);
}

/* No floating-point instruction may run before the FPU is on, so this copies by hand. */
__attribute__((noreturn)) void reset_handler(void)
{
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20; /* full access to coprocessors 10 and 11 (the FPU) */
    __asm volatile("dsb\n\tisb" ::: "memory");
    for (uint32_t *s = data_load, *d = data_start; d < data_end;) *d++ = *s++;
    for (uint32_t *d = bss_start; d < bss_end;) *d++ = 0;
    uint32_t *sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *d = stack_bottom; d < sp - 16;) *d++ = 0xDEADBEEFu;
    semihost_exit(main());
}

__attribute__((noreturn)) static void fault_handler(void)
{
    semihost_write("fault\n");
    semihost_exit(99);
}

typedef void (*vector)(void);

__attribute__((section(".vectors"), used)) static const vector vectors[16] = {
    (vector)stack_top, reset_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler,
    fault_handler,
};
