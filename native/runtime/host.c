/*
 * The host side of native drivers, linked into mdlsim-native: the thread's chain of
 * __try frames, raising an exception into it, the outermost frame a driver call runs
 * under, and the SIGSEGV/SIGBUS handler that turns a fault in driver code into what
 * Windows does (the model decides: map a demand-zero page and retry, raise
 * STATUS_ACCESS_VIOLATION into the innermost __try, or stop on a bug check).
 *
 * Everything here is per thread (verify runs cases on several threads); the handler is
 * process-wide and passes faults it does not own to the handler installed before it
 * (Rust's stack-overflow guard).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include "host_abi.h"

/* Frame states. */
#define FRAME_NEW 0
#define FRAME_LINKED 1
#define FRAME_CAUGHT 2
#define FRAME_DONE 3

/* What the outermost frame records when a call ends by a long jump. */
#define TOP_RAISED 1
#define TOP_STOPPED 2
#define TOP_UNSUPPORTED 3
#define TOP_TIMEOUT 4

/* Access: 0 a read, 1 a write, 2 an instruction fetch. */
typedef int (*mdlsim_resolve_fn)(uint64_t Address, int Access, uint64_t *Status);
typedef void (*mdlsim_try_fn)(int Delta);
typedef int (*mdlsim_step_fn)(void);

/* x86-64 RFLAGS.TF: the CPU traps after the next instruction. */
#define TRAP_FLAG 0x100

struct thread_state {
    MDLSIM_SEH_FRAME *frames; /* innermost linked __try frame */
    MDLSIM_SEH_FRAME *top;    /* the outermost frame of the running call, NULL outside */
    volatile sig_atomic_t in_host; /* inside a callback into the model (Rust frames below) */
    int leaked_tries;         /* __try frames unlinked without telling the model */
    volatile sig_atomic_t expired; /* the call's CPU budget ran out */
    timer_t timer;            /* this thread's CPU-time timer */
    int has_timer;
    volatile sig_atomic_t stepping; /* an access runs alone (TF set): the trap ends it */
};

static __thread struct thread_state T;
static mdlsim_resolve_fn Resolve;
static mdlsim_try_fn TryChanged;
static mdlsim_step_fn Stepped;
static struct sigaction PreviousSegv, PreviousBus, PreviousTrap;

/* The model's __try bookkeeping, marked as host time (see on_budget). */
static void try_changed(int delta) {
    T.in_host++;
    TryChanged(delta);
    T.in_host--;
}

static void unlink_frame(MDLSIM_SEH_FRAME *f) {
    MDLSIM_SEH_FRAME **p = &T.frames;
    while (*p != NULL && *p != f) {
        p = &(*p)->Outer;
    }
    if (*p == f) {
        *p = f->Outer;
        try_changed(-1);
    }
}

static int seh_enter(MDLSIM_SEH_FRAME *f) {
    switch (f->State) {
    case FRAME_NEW:
        f->Outer = T.frames;
        f->Code = 0;
        T.frames = f;
        f->State = FRAME_LINKED;
        try_changed(1);
        return 1;
    case FRAME_LINKED: /* the body ran to its end (or __leave) */
        unlink_frame(f);
        f->State = FRAME_DONE;
        return 0;
    default: /* the handler ran */
        f->State = FRAME_DONE;
        return 0;
    }
}

static void seh_cleanup(MDLSIM_SEH_FRAME *f) {
    if (f->State == FRAME_LINKED) {
        unlink_frame(f);
    }
    f->State = FRAME_DONE;
}

__attribute__((noreturn)) static void stop_with(int why, int32_t code) {
    /* No call into the model here (this may run in the budget's asynchronous signal):
     * the frames are counted, and the Rust side closes them in the model. */
    while (T.frames != NULL) {
        T.frames = T.frames->Outer;
        T.leaked_tries++;
    }
    T.stepping = 0; /* the access that ran alone never completes */
    T.top->State = why;
    T.top->Code = code;
    siglongjmp(T.top->Env, 1);
}

__attribute__((noreturn)) static void raise_status(int32_t status) {
    MDLSIM_SEH_FRAME *f = T.frames;
    T.stepping = 0; /* an access that faulted mid-step never completes */
    if (f == NULL) {
        stop_with(TOP_RAISED, status);
    }
    unlink_frame(f);
    f->Code = status;
    f->State = FRAME_CAUGHT;
    siglongjmp(f->Env, 1);
}

__attribute__((noreturn)) static void stop(void) { stop_with(TOP_STOPPED, 0); }

static int seh_filter(MDLSIM_SEH_FRAME *f, int disposition) {
    if (disposition > 0) {
        return 1;
    }
    if (disposition == 0) {
        raise_status(f->Code); /* EXCEPTION_CONTINUE_SEARCH: the next frame out */
    }
    /* EXCEPTION_CONTINUE_EXECUTION cannot resume after a long jump. */
    stop_with(TOP_UNSUPPORTED, f->Code);
}

static void forward(int sig, siginfo_t *info, void *uc, const struct sigaction *prev) {
    if (prev->sa_flags & SA_SIGINFO) {
        if (prev->sa_sigaction != NULL) {
            prev->sa_sigaction(sig, info, uc);
            return;
        }
    } else if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* The default action: restore it and let the fault happen again (a trap, which
     * does not repeat, is raised again). A trap ends the process: say which state it
     * came in, with write(2) (async-signal-safe), so a stray one can be diagnosed. */
    if (sig == SIGTRAP) {
        static const char hex[] = "0123456789abcdef";
        char line[] = "mdlsim-native: SIGTRAP not from a traced access (si_code 0x??, "
                      "native call ?, in model ?, stepping ?): default action\n";
        const char fill[] = {hex[(info->si_code >> 4) & 0xF], hex[info->si_code & 0xF],
                             T.top != NULL ? '1' : '0', T.in_host > 0 ? '1' : '0',
                             T.stepping ? '1' : '0'};
        char *q = line;
        for (size_t k = 0; k < sizeof fill; k++) { /* the '?'s, in order */
            q = strchr(q, '?');
            *q = fill[k];
        }
        ssize_t ignored = write(2, line, strlen(line));
        (void)ignored;
    }
    signal(sig, SIG_DFL);
    if (sig == SIGTRAP) {
        raise(SIGTRAP);
    }
}

/* The access that ran alone is over (completed, or faulted): the host closes what it
 * opened for it. */
static int end_step(void) {
    T.stepping = 0;
    T.in_host++;
    int outcome = Stepped();
    T.in_host--;
    return outcome;
}

static void on_fault(int sig, siginfo_t *info, void *ucv) {
    /* Outside a native call, or inside the model's own code (Rust frames below, which
     * no long jump may cross): not driver code's fault. */
    if (T.top == NULL || T.in_host > 0) {
        forward(sig, info, ucv, sig == SIGSEGV ? &PreviousSegv : &PreviousBus);
        return;
    }
    ucontext_t *uc = ucv;
    /* A general-protection fault (a non-canonical address, among others) has no address:
     * si_addr is 0, which is not the address used. Windows dispatches a kernel-mode #GP
     * as STATUS_ACCESS_VIOLATION with the address unknown, which __try can catch. */
    if (uc->uc_mcontext.gregs[REG_TRAPNO] == 13) {
        if (T.stepping) { /* the access that ran alone faulted: close what it opened */
            end_step();
        }
        raise_status((int32_t)0xC0000005);
    }
    /* x86-64 page-fault error code: bit 1 is set for a write, bit 4 for an instruction
     * fetch (passed as 2: model memory is never executable). */
    greg_t err = uc->uc_mcontext.gregs[REG_ERR];
    int write = (err & 0x10) != 0 ? 2 : (err & 2) != 0;
    uint64_t status = 0;
    T.in_host++;
    int outcome = Resolve((uint64_t)(uintptr_t)info->si_addr, write, &status);
    T.in_host--;
    if (T.expired && (outcome == MDLSIM_OK || outcome == MDLSIM_STEP)) {
        stop_with(TOP_TIMEOUT, 0);
    }
    if (outcome == MDLSIM_OK) {
        return; /* mapped now: the access is retried */
    }
    if (outcome == MDLSIM_STEP) {
        /* The page is open for this access only: the instruction runs alone, and the
         * trap after it closes the page again. */
        uc->uc_mcontext.gregs[REG_EFL] |= TRAP_FLAG;
        T.stepping = 1;
        return;
    }
    if (outcome == MDLSIM_RAISED) {
        raise_status((int32_t)status);
    }
    stop();
}

/* The single-stepped access completed: the host closes what it opened for it. A trap
 * that is not ours (a debugger's, a breakpoint in the driver) goes to the handler
 * installed before. */
static void on_trap(int sig, siginfo_t *info, void *ucv) {
    if (T.top != NULL && T.in_host == 0 && info->si_code == SI_KERNEL) {
        /* An int3 in driver code (DbgBreakPoint, __debugbreak): Windows raises
         * STATUS_BREAKPOINT, which without a debugger nothing handles. */
        raise_status((int32_t)0x80000003);
    }
    /* The single-step trap is TRAP_TRACE, which the kernel reads from DR6; a stray
     * trap killed the differential tests twice under load on a VM, undiagnosed, and a
     * hypervisor that loses DR6's single-step bit would make it TRAP_BRKPT. While an
     * access runs alone, any trap the CPU raised (si_code > 0; an int3 is SI_KERNEL,
     * handled above) is taken as ours: driver code can set no hardware breakpoint, and
     * a debugger takes SIGTRAP before the process does. */
    if (T.top == NULL || T.in_host > 0 || !T.stepping || info->si_code <= 0) {
        forward(sig, info, ucv, &PreviousTrap);
        return;
    }
    ucontext_t *uc = ucv;
    uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)TRAP_FLAG;
    int outcome = end_step();
    if (T.expired) {
        stop_with(TOP_TIMEOUT, 0);
    }
    if (outcome != MDLSIM_OK) {
        stop();
    }
}

/* The call's CPU budget ran out. Inside driver code the call stops here; inside the
 * model (Rust frames below) it stops when the model returns to driver code. */
static void on_budget(int sig, siginfo_t *info, void *uc) {
    (void)sig;
    (void)info;
    (void)uc;
    if (T.top == NULL) {
        return;
    }
    T.expired = 1;
    if (T.in_host == 0) {
        stop_with(TOP_TIMEOUT, 0);
    }
}

static int (*RustDdi)(uint32_t, uint64_t *, uint64_t *);

/* The DDI entry drivers get: the model's, marked as host time, and a budget that ran out
 * meanwhile stops the call on the way back. */
static int host_ddi(uint32_t id, uint64_t *args, uint64_t *result) {
    T.in_host++;
    int outcome = RustDdi(id, args, result);
    T.in_host--;
    if (T.expired && outcome == MDLSIM_OK) {
        stop_with(TOP_TIMEOUT, 0);
    }
    return outcome;
}

/* CPU seconds one call into native code may take (0: unlimited). */
static volatile uint64_t BudgetNanos = 10ull * 1000 * 1000 * 1000;

void mdlsim_host_set_budget(uint64_t nanos) { BudgetNanos = nanos; }

static void arm(void) {
    T.expired = 0;
    if (BudgetNanos == 0) {
        return;
    }
    if (!T.has_timer) {
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_THREAD_ID;
        ev.sigev_signo = SIGVTALRM;
        ev._sigev_un._tid = gettid(); /* sigev_notify_thread_id, which glibc 2.36 does not name */
        if (timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &T.timer) != 0) {
            return;
        }
        T.has_timer = 1;
    }
    struct itimerspec it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = (time_t)(BudgetNanos / 1000000000ull);
    it.it_value.tv_nsec = (long)(BudgetNanos % 1000000000ull);
    /* Then every 10 ms: a tick that lands inside the model only marks the budget spent,
     * and a later one stops driver code wherever it is. */
    it.it_interval.tv_nsec = 10 * 1000 * 1000;
    timer_settime(T.timer, 0, &it, NULL);
}

static void disarm(void) {
    if (T.has_timer) {
        struct itimerspec it;
        memset(&it, 0, sizeof it);
        timer_settime(T.timer, 0, &it, NULL);
    }
}

static int handle(int sig, void (*f)(int, siginfo_t *, void *), int flags,
                  struct sigaction *previous) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = f;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, previous);
}

/* This thread stops running native code for good: its CPU-time timer is deleted. */
void mdlsim_host_thread_exit(void) {
    if (T.has_timer) {
        timer_delete(T.timer);
        T.has_timer = 0;
    }
}

/* Called once by the Rust side: the callbacks and the handlers. 0 on success. */
int mdlsim_host_install(mdlsim_resolve_fn resolve, mdlsim_try_fn try_changed,
                        mdlsim_step_fn stepped) {
    Resolve = resolve;
    TryChanged = try_changed;
    Stepped = stepped;
    /* SA_NODEFER: a handler that long-jumps out leaves the signal unblocked. No
     * SA_ONSTACK: the handler calls the model, which needs more than an alternate stack. */
    if (handle(SIGSEGV, on_fault, SA_NODEFER, &PreviousSegv) != 0 ||
        handle(SIGBUS, on_fault, SA_NODEFER, &PreviousBus) != 0 ||
        handle(SIGTRAP, on_trap, SA_NODEFER, &PreviousTrap) != 0 ||
        handle(SIGVTALRM, on_budget, SA_NODEFER | SA_RESTART, NULL) != 0) {
        return -1;
    }
    return 0;
}

/* The table a driver's MdlsimInit receives. */
void mdlsim_host_table(MDLSIM_HOST *h, int (*ddi)(uint32_t, uint64_t *, uint64_t *)) {
    memset(h, 0, sizeof *h);
    h->Abi = MDLSIM_HOST_ABI;
    h->SehEnter = seh_enter;
    h->SehCleanup = seh_cleanup;
    h->SehFilter = seh_filter;
    h->Raise = raise_status;
    h->Stop = stop;
    RustDdi = ddi;
    h->Ddi = host_ddi;
    h->Memcpy = memcpy;
    h->Memmove = memmove;
    h->Memset = memset;
}

/* Runs thunk(args) under an outermost frame. Returns 0 when it returned, else
 * TOP_RAISED (an exception no __try caught: *code is its status), TOP_STOPPED (the
 * machine stopped in a DDI or a fault), TOP_UNSUPPORTED (*code is the exception) or
 * TOP_TIMEOUT (the call used up its CPU budget). *leaked is the number of __try frames
 * a stop left open, which the caller closes in the model. */
int mdlsim_host_run(void (*thunk)(void *), void *args, int32_t *code, int *leaked) {
    MDLSIM_SEH_FRAME top;
    MDLSIM_SEH_FRAME *saved_frames = T.frames;
    MDLSIM_SEH_FRAME *saved_top = T.top;
    volatile int result = 0;
    top.State = 0;
    top.Code = 0;
    T.frames = NULL;
    T.top = &top;
    int saved_in_host = T.in_host;
    int saved_leaked = T.leaked_tries;
    int saved_stepping = T.stepping;
    T.in_host = 0;
    T.leaked_tries = 0;
    T.stepping = 0;
    if (sigsetjmp(top.Env, 0) == 0) {
        arm(); /* only now: the budget's stop jumps to top.Env */
        thunk(args);
        while (T.frames != NULL) { /* a frame left linked by a longjmp-free path */
            unlink_frame(T.frames);
        }
    } else {
        result = top.State;
        *code = top.Code;
    }
    disarm();
    *leaked = T.leaked_tries;
    T.leaked_tries = saved_leaked;
    T.in_host = saved_in_host;
    T.stepping = saved_stepping;
    T.frames = saved_frames;
    T.top = saved_top;
    return result;
}
