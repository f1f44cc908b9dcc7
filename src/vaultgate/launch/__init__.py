"""The launch side: env files, references in an environment, masking, the
child process, and templates. Each module is imported only when needed."""
