"""Entry point used by webui.sh: prepare the environment (install the pinned requirements), then start the server."""

from modules import launch_utils

args = launch_utils.args
# what extensions' install.py scripts use (A1111's launch module names)
python = launch_utils.python
git = launch_utils.git
index_url = launch_utils.index_url
dir_repos = launch_utils.dir_repos
run = launch_utils.run
run_pip = launch_utils.run_pip
is_installed = launch_utils.is_installed
repo_dir = launch_utils.repo_dir
commit_hash = launch_utils.commit_hash
git_tag = launch_utils.git_tag
git_clone = launch_utils.git_clone


def main() -> None:
    if not args.skip_prepare_environment:
        launch_utils.prepare_environment()
    if args.exit:
        print("Exiting because of --exit argument")
        return
    launch_utils.start()


if __name__ == "__main__":
    main()
