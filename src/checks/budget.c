/*
 * budget.c - the timing of a check's steps (see budget.h).
 */
#include "checks/budget.h"

#include "core/clock.h"

int vt__check_budget_ms(const vt_check_result *r)
{
	int left = vt_result_remaining_ms(r);
	return left > 4 * VT__BUDGET_MARGIN_MS ? left - VT__BUDGET_MARGIN_MS
					       : left;
}

int vt__step_ms(const vt_check_result *r, int limit_ms)
{
	int left = vt_result_remaining_ms(r);
	return left < limit_ms ? left : limit_ms;
}

int64_t vt__deadline_ns(int ms)
{
	return vt__mono_ns() + (int64_t)ms * 1000000;
}

int vt__ms_until(int64_t deadline_ns)
{
	int64_t left = (deadline_ns - vt__mono_ns()) / 1000000;
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

struct timeval vt__ms_tv(int ms)
{
	struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
	return tv;
}
