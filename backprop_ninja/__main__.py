from .cli import main

if __name__ == "__main__":  # not when a grading process started with spawn imports it
    main()
