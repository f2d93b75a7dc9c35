// A bare module: exports add, imports nothing.
int add(int a, int b) { return a + b; }
