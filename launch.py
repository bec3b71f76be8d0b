"""Entry point used by webui.sh: prepare the environment (install the pinned requirements), then start the server."""

from modules import launch_utils

args = launch_utils.args


def main() -> None:
    if not args.skip_prepare_environment:
        launch_utils.prepare_environment()
    if args.exit:
        print("Exiting because of --exit argument")
        return
    launch_utils.start()


if __name__ == "__main__":
    main()
