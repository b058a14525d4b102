/* The physical floor of a driver call: a static program that starts and exits, nothing else. */
int main(void) { return 0; }
