/* A shared object that is not a sipswitch module: it has no entry symbol. */
int not_a_module(void);
int not_a_module(void) { return 42; }
