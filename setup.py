"""Install mmvireid: ``pip install -e .`` (see README for the extras)."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def readme() -> str:
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version() -> str:
    scope = {}
    with open(osp.join(HERE, 'mmvireid', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension() -> None:
    """Ship configs, tools and model-index.yml as ``mmvireid/.mim``.

    This is how OpenMMLab packages make ``mmvireid::salcr/sysu.py`` config
    bases resolve after installation: links for editable installs, copies
    for wheels and sdists.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv
             for cmd in ('sdist', 'bdist_wheel', 'build', 'install')):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'mmvireid', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src = osp.join(HERE, name)
        dst = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmvireid',
        version=get_version(),
        description='OpenMMLab-style toolbox for unsupervised '
        'visible-infrared person re-identification',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='person re-identification, visible-infrared, unsupervised',
        packages=find_packages(exclude=('configs', 'tools', 'tests')),
        include_package_data=True,
        package_data={'mmvireid': ['.mim/**/*', '.mim/*']},
        python_requires='>=3.9',
        license='Apache License 2.0',
        install_requires=parse_requirements('runtime'),
        extras_require={
            'lite': parse_requirements('mminstall'),
            'faiss-cpu': ['faiss-cpu>=1.7.4'],
            'faiss-gpu': ['faiss-gpu>=1.7.2'],
            'demo': parse_requirements('demo') +
            parse_requirements('mminstall'),
            'tests': parse_requirements('tests') +
            parse_requirements('mminstall'),
        },
        zip_safe=False)
