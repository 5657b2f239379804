from smarttags.cli import main

main()
