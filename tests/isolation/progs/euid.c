/* euid.c - print the real and effective user ids.  The isolation test
 * installs a copy owned by root with the setuid bit in a folder the cell
 * may write, and checks that running it inside the cell does not give
 * root (the cell's mounts are nosuid, and no_new_privs is set). */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("uid %u euid %u\n", (unsigned)getuid(), (unsigned)geteuid());
	fflush(stdout);
	return 0;
}
