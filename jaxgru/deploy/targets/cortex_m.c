/* Bare-metal start-up for an Arm Cortex-M (the MPS2 boards QEMU emulates): a vector table, a
 * reset handler that copies .data, zeroes .bss and calls main, output and exit through
 * semihosting, and an instruction counter from SysTick (run QEMU with -icount shift=0). */
#include <stdint.h>

int main(void);
void jx_puts(const char *s);
uint64_t jx_ticks(void);
void jx_reset(void);
void jx_systick(void);
void jx_fault(void);

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

static int32_t jx_semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void jx_puts(const char *s)
{
    jx_semihost(0x04, s); /* SYS_WRITE0 */
}

static void jx_exit(int32_t code)
{
    uint32_t block[2];
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    jx_semihost(0x20, block); /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0xFFFFFFu

static volatile uint32_t jx_wraps;

void jx_systick(void)
{
    ++jx_wraps;
}

uint64_t jx_ticks(void)
{
    uint32_t wraps, value;
    do {
        wraps = jx_wraps;
        value = SYST_CVR;
    } while (wraps != jx_wraps);
    return (uint64_t)wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
}

void jx_fault(void)
{
    jx_puts("fault\n");
    jx_exit(3);
}

void jx_reset(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss; ++dst)
        *dst = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
    while (SYST_CVR == 0u) { /* the first tick loads the reload value */
    }
    jx_exit(main());
}

__attribute__((section(".vectors"), used)) static void (*const jx_vectors[16])(void) = {
    (void (*)(void))(&_estack), jx_reset, jx_fault, jx_fault, jx_fault, jx_fault, jx_fault, 0, 0, 0, 0,
    jx_fault, jx_fault, 0, jx_fault, jx_systick,
};
