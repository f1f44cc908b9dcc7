from vaultgate.cli import main

main()
