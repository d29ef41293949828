from forgeyard.app.cli import main

main()
