/*
 * sig.h - resetting signal dispositions before a program is exec'd.
 */
#ifndef RUNCELL_EXEC_SIG_H
#define RUNCELL_EXEC_SIG_H

/*
 * Set every signal's disposition to SIG_DFL, including the two real-time
 * signals glibc reserves (32 and 33), which its sigaction() refuses to
 * touch: an "ignored" inherited from whoever started the service would
 * otherwise reach the program.  Async-signal-safe: raw system calls only,
 * so it may run between clone and exec.
 */
void sig_reset_dispositions(void);

#endif
