from forgeyard.cli import main

main()
