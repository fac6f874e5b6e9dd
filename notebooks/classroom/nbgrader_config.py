"""nbgrader configuration for the coTherapist Workbench classroom exercises (run nbgrader from this folder).

The instructor's solved notebooks live in source/<assignment>/; `nbgrader generate_assignment` writes the student
versions to release/, `collect` fills submitted/, `autograde` writes autograded/ and gradebook.db. Those are made
per course run and git-ignored (see .gitignore here). README.md in this folder walks through a course run.
"""

c = get_config()  # noqa: F821  (nbgrader provides get_config when it reads this file)

c.CourseDirectory.course_id = "cotherapist-workbench"

# What a student sees in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Exercise 1 answers ten queries on the default model: a few minutes on a laptop, more on a busy server.
c.ExecutePreprocessor.timeout = 1800
