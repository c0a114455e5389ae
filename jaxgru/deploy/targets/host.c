/* The test harness's output on a hosted system: standard output. */
#include <stdio.h>
#include <stdint.h>

void jx_puts(const char *s);
uint64_t jx_ticks(void);

void jx_puts(const char *s)
{
    fputs(s, stdout);
}

uint64_t jx_ticks(void)
{
    return 0; /* not counted on the host */
}
