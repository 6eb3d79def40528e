/*
 * test_pool.c - the worker pool: every task runs exactly once, in FIFO
 * order, a full queue refuses at once, shutdown runs what was queued and
 * refuses what comes after. Workers start on demand, yet nthreads tasks
 * run at once, each worker with the allocating thread's signal mask and
 * the pool's name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_getname_np */
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vitals/pool.h"

/* A gate tasks block on until the test opens it. */
typedef struct gate {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	bool open;
	int waiting; /* tasks blocked on it */
} gate;

static void gate_init(gate *g)
{
	pthread_mutex_init(&g->mtx, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->open = false;
	g->waiting = 0;
}

static void gate_fini(gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mtx);
}

static void gate_open(gate *g)
{
	pthread_mutex_lock(&g->mtx);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mtx);
}

/* Waits (up to 5 s) until n tasks block on the gate. */
static int gate_wait_blocked(gate *g, int n)
{
	double end = vt_test_now_ms() + 5000;
	for (;;) {
		pthread_mutex_lock(&g->mtx);
		int w = g->waiting;
		pthread_mutex_unlock(&g->mtx);
		if (w >= n)
			return 1;
		if (vt_test_now_ms() > end)
			return 0;
		vt_test_sleep_ms(1);
	}
}

static void task_block(void *arg)
{
	gate *g = arg;
	pthread_mutex_lock(&g->mtx);
	g->waiting++;
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mtx);
	g->waiting--;
	pthread_mutex_unlock(&g->mtx);
}

static void task_count(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_alloc_args(void)
{
	vt_pool *p = (vt_pool *)&p;
	CU_ASSERT_EQUAL(vt_pool_alloc(&p, 0, 4), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_pool_alloc(&p, 2, 0), VT_EINVAL);
	CU_ASSERT_PTR_EQUAL(p, (vt_pool *)&p); /* untouched on error */
	CU_ASSERT_EQUAL(vt_pool_alloc(&p, 3, 4), VT_OK);
	CU_ASSERT_EQUAL(vt_pool_threads(p), 3);
	vt_pool_free(p);
	vt_pool_free(NULL);
}

#define NTASKS 2000

static void test_all_run_once(void)
{
	static atomic_int counts[NTASKS];
	for (int i = 0; i < NTASKS; i++)
		atomic_init(&counts[i], 0);
	vt_pool *p;
	CU_ASSERT_FATAL(vt_pool_alloc(&p, 4, NTASKS) == VT_OK);
	for (int i = 0; i < NTASKS; i++)
		CU_ASSERT_EQUAL(vt_pool_submit(p, task_count, &counts[i]),
				VT_OK);
	vt_pool_free(p);
	int bad = 0;
	for (int i = 0; i < NTASKS; i++)
		bad += atomic_load(&counts[i]) != 1;
	CU_ASSERT_EQUAL(bad, 0);
}

typedef struct order_log {
	pthread_mutex_t mtx;
	int seen[64];
	int n;
} order_log;

typedef struct order_task {
	order_log *log;
	int id;
} order_task;

static void task_order(void *arg)
{
	order_task *t = arg;
	pthread_mutex_lock(&t->log->mtx);
	t->log->seen[t->log->n++] = t->id;
	pthread_mutex_unlock(&t->log->mtx);
}

static void test_fifo_order(void)
{
	order_log log = {.n = 0};
	pthread_mutex_init(&log.mtx, NULL);
	order_task tasks[64];
	gate g;
	gate_init(&g);
	vt_pool *p;
	CU_ASSERT_FATAL(vt_pool_alloc(&p, 1, 64) == VT_OK);
	/* Hold the only worker so that all 64 are queued before any runs. */
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_block, &g), VT_OK);
	CU_ASSERT_FATAL(gate_wait_blocked(&g, 1));
	for (int i = 0; i < 64; i++) {
		tasks[i] = (order_task){&log, i};
		CU_ASSERT_EQUAL(vt_pool_submit(p, task_order, &tasks[i]),
				VT_OK);
	}
	gate_open(&g);
	vt_pool_free(p);
	CU_ASSERT_EQUAL(log.n, 64);
	int in_order = 1;
	for (int i = 0; i < log.n; i++)
		in_order &= log.seen[i] == i;
	CU_ASSERT(in_order);
	gate_fini(&g);
	pthread_mutex_destroy(&log.mtx);
}

static void test_full_queue(void)
{
	gate g;
	gate_init(&g);
	atomic_int count;
	atomic_init(&count, 0);
	vt_pool *p;
	CU_ASSERT_FATAL(vt_pool_alloc(&p, 2, 3) == VT_OK);
	/* Both workers busy, then three waiting tasks fill the queue. */
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_block, &g), VT_OK);
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_block, &g), VT_OK);
	CU_ASSERT_FATAL(gate_wait_blocked(&g, 2));
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(vt_pool_submit(p, task_count, &count), VT_OK);
	double t0 = vt_test_now_ms();
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_count, &count), VT_EFULL);
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_count, &count), VT_EFULL);
	CU_ASSERT(vt_test_now_ms() - t0 < 1000); /* refused, not blocked */
	CU_ASSERT_EQUAL(atomic_load(&count), 0);
	gate_open(&g);
	vt_pool_free(p);
	CU_ASSERT_EQUAL(atomic_load(&count), 3); /* the refused never ran */
	gate_fini(&g);
}

typedef struct freer {
	vt_pool *pool;
	pthread_t thread;
} freer;

static void *free_thread(void *arg)
{
	vt_pool_free(((freer *)arg)->pool);
	return NULL;
}

/* Shutdown while a worker is held: submissions turn VT_ECLOSED once free
 * began; everything accepted before still runs. */
static void test_free_runs_queued_and_closes(void)
{
	gate g;
	gate_init(&g);
	atomic_int count;
	atomic_init(&count, 0);
	vt_pool *p;
	CU_ASSERT_FATAL(vt_pool_alloc(&p, 1, 100) == VT_OK);
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_block, &g), VT_OK);
	CU_ASSERT_FATAL(gate_wait_blocked(&g, 1));
	int accepted = 0;
	for (int i = 0; i < 10; i++)
		accepted += vt_pool_submit(p, task_count, &count) == VT_OK;
	CU_ASSERT_EQUAL(accepted, 10);

	/* The held worker keeps vt_pool_free from finishing, so p stays
	 * valid until the gate opens. */
	freer f = {.pool = p};
	CU_ASSERT_FATAL(pthread_create(&f.thread, NULL, free_thread, &f) == 0);
	vt_err rv = VT_OK;
	double end = vt_test_now_ms() + 5000;
	while (vt_test_now_ms() < end) {
		rv = vt_pool_submit(p, task_count, &count);
		if (rv == VT_ECLOSED)
			break;
		if (rv == VT_OK)
			accepted++;
		CU_ASSERT(rv == VT_OK || rv == VT_EFULL);
	}
	CU_ASSERT_EQUAL(rv, VT_ECLOSED);
	CU_ASSERT_EQUAL(atomic_load(&count), 0); /* worker still held */
	gate_open(&g);
	pthread_join(f.thread, NULL);
	CU_ASSERT_EQUAL(atomic_load(&count), accepted);
	gate_fini(&g);
}

typedef struct resubmit {
	vt_pool *pool;
	atomic_int count;
} resubmit;

static void task_resubmit(void *arg)
{
	resubmit *r = arg;
	if (atomic_fetch_add(&r->count, 1) < 99)
		vt_pool_submit(r->pool, task_resubmit, r);
}

/* A task may submit to its own pool. */
static void test_submit_from_task(void)
{
	resubmit r;
	atomic_init(&r.count, 0);
	CU_ASSERT_FATAL(vt_pool_alloc(&r.pool, 2, 4) == VT_OK);
	CU_ASSERT_EQUAL(vt_pool_submit(r.pool, task_resubmit, &r), VT_OK);
	double end = vt_test_now_ms() + 5000;
	while (atomic_load(&r.count) < 100 && vt_test_now_ms() < end)
		vt_test_sleep_ms(1);
	vt_pool_free(r.pool);
	CU_ASSERT_EQUAL(atomic_load(&r.count), 100);
}

/* Workers start on demand, up to nthreads: that many blocking tasks all
 * run at once, and the next one waits for a free worker. */
static void test_all_workers_run_at_once(void)
{
	gate g;
	gate_init(&g);
	atomic_int count;
	atomic_init(&count, 0);
	vt_pool *p;
	CU_ASSERT_FATAL(vt_pool_alloc(&p, 6, 16) == VT_OK);
	for (int i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(vt_pool_submit(p, task_block, &g), VT_OK);
	CU_ASSERT(gate_wait_blocked(&g, 6));
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_count, &count), VT_OK);
	CU_ASSERT_EQUAL(atomic_load(&count), 0); /* no seventh worker */
	gate_open(&g);
	vt_pool_free(p);
	CU_ASSERT_EQUAL(atomic_load(&count), 1);
	gate_fini(&g);
}

typedef struct mask_probe {
	gate *g;
	atomic_int blocked; /* SIGUSR1 blocked in the worker */
} mask_probe;

static void task_mask(void *arg)
{
	mask_probe *m = arg;
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	atomic_store(&m->blocked, sigismember(&cur, SIGUSR1) == 1 ? 1 : 0);
	task_block(m->g);
}

typedef struct submitter {
	vt_pool *pool;
	mask_probe *probe;
	vt_err rv;
} submitter;

static void *submit_unmasked(void *arg)
{
	submitter *s = arg;
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	s->rv = vt_pool_submit(s->pool, task_mask, s->probe);
	return NULL;
}

/* A worker started by a submit from a thread that blocks no signal still
 * blocks what the allocating thread blocked. */
static void test_worker_signal_mask(void)
{
	gate g;
	gate_init(&g);
	sigset_t usr1, old;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CU_ASSERT_FATAL(pthread_sigmask(SIG_BLOCK, &usr1, &old) == 0);
	vt_pool *p;
	CU_ASSERT_FATAL(vt_pool_alloc(&p, 2, 4) == VT_OK);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* The first worker is held; the probe needs the second, started by
	 * the unmasked thread's submit. */
	CU_ASSERT_EQUAL(vt_pool_submit(p, task_block, &g), VT_OK);
	CU_ASSERT_FATAL(gate_wait_blocked(&g, 1));
	mask_probe m = {.g = &g};
	atomic_init(&m.blocked, -1);
	submitter s = {.pool = p, .probe = &m};
	pthread_t t;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, submit_unmasked, &s) == 0);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(s.rv, VT_OK);
	CU_ASSERT(gate_wait_blocked(&g, 2));
	CU_ASSERT_EQUAL(atomic_load(&m.blocked), 1);
	gate_open(&g);
	vt_pool_free(p);
	gate_fini(&g);
}

/* What a task saw of its worker's name. */
typedef struct name_probe {
	gate *g;
	char name[32];
} name_probe;

static void task_name(void *arg)
{
	name_probe *np = arg;
	if (pthread_getname_np(pthread_self(), np->name, sizeof(np->name)) != 0)
		np->name[0] = '\0';
	task_block(np->g);
}

/* vt_pool_set_name names the worker already running and those started
 * later, cut to the 15 bytes Linux keeps; bad names are refused. */
static void test_worker_names(void)
{
	vt_pool *p;
	CU_ASSERT_FATAL(vt_pool_alloc(&p, 3, 4) == VT_OK);
	CU_ASSERT_EQUAL(vt_pool_set_name(p, NULL), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_pool_set_name(p, ""), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_pool_set_name(NULL, "x"), VT_EINVAL);
	CU_ASSERT_EQUAL(vt_pool_set_name(p, "vt-test-pool-with-a-long-name"),
			VT_OK);
	gate g;
	gate_init(&g);
	name_probe probes[3];
	for (int i = 0; i < 3; i++) {
		probes[i].g = &g;
		strcpy(probes[i].name, "unset");
		CU_ASSERT_EQUAL(vt_pool_submit(p, task_name, &probes[i]),
				VT_OK);
	}
	/* All three block at once: each ran on its own worker. */
	CU_ASSERT(gate_wait_blocked(&g, 3));
	for (int i = 0; i < 3; i++)
		CU_ASSERT_STRING_EQUAL(probes[i].name, "vt-test-pool-wi");
	gate_open(&g);
	vt_pool_free(p);
	gate_fini(&g);
}

int main(void)
{
	static const vt_test tests[] = {
	    {"alloc arguments", test_alloc_args},
	    {"every task runs exactly once", test_all_run_once},
	    {"tasks run in submission order", test_fifo_order},
	    {"full queue is VT_EFULL at once", test_full_queue},
	    {"free runs queued tasks, then VT_ECLOSED",
	     test_free_runs_queued_and_closes},
	    {"a task submits to its own pool", test_submit_from_task},
	    {"workers start on demand, nthreads run at once",
	     test_all_workers_run_at_once},
	    {"workers started on demand keep the alloc's signal mask",
	     test_worker_signal_mask},
	    {"workers carry the pool's name", test_worker_names},
	    {NULL, NULL},
	};
	return vt_test_main("pool", tests);
}
